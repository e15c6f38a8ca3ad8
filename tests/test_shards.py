"""Reading img2dataset shards batch by batch: the same ids and pixels as `folder_set`, clear errors."""
import tarfile

import numpy as np
import pytest
from PIL import Image

from copyscope.data.sources import DataError, folder_set, square_resize
from copyscope.shards import iter_batches, list_shards, read_shard
from tests.shard_fakes import add_member, png_bytes, random_images, write_files, write_tar, write_webdataset


def read_all(root, resolution=None):
    ids, images = [], []
    for shard in list_shards(root):
        shard_ids, shard_images = read_shard(shard, resolution)
        ids += shard_ids
        images.append(shard_images)
    return ids, np.concatenate(images)


def test_webdataset_shards_match_folder_set(tmp_path):
    images = write_webdataset(tmp_path, n_shards=3, per_shard=5, size=8)
    shards = list_shards(tmp_path)
    assert [(s.name, s.kind) for s in shards] == [("00000", "webdataset"), ("00001", "webdataset"),
                                                 ("00002", "webdataset")]
    ids, read = read_all(tmp_path)
    reference = folder_set(tmp_path, 8)
    assert ids == reference.ids == [f"{s:05d}/{k:09d}" for s in range(3) for k in range(s * 5, s * 5 + 5)]
    assert np.array_equal(read, images) and np.array_equal(read, reference.images)
    assert read_shard(shards[1])[0] == ids[5:10]


def test_files_layout_and_single_folder_match_folder_set(tmp_path):
    images = write_files(tmp_path / "files", n_shards=2, per_shard=3, size=8)
    ids, read = read_all(tmp_path / "files")
    assert ids == folder_set(tmp_path / "files", 8).ids and ids[0] == "00000/000000000.png"
    assert np.array_equal(read, images)
    single = tmp_path / "files" / "00001"
    (shard,) = list_shards(single)
    assert shard.name == "00001" and read_shard(shard)[0] == folder_set(single, 8).ids


def test_batches_are_bounded_and_resize_like_folder_set(tmp_path):
    write_webdataset(tmp_path, n_shards=1, per_shard=7, size=12)
    (shard,) = list_shards(tmp_path)
    batches = list(iter_batches(shard, batch_size=3, resolution=8))
    assert [len(ids) for ids, _ in batches] == [3, 3, 1]
    resized = np.concatenate([images for _, images in batches])
    assert resized.shape == (7, 8, 8, 3) and np.array_equal(resized, folder_set(tmp_path, 8).images)


def test_tar_keeps_one_image_per_key_and_skips_metadata(tmp_path):
    image = random_images(1, 8, seed=1)[0]
    with tarfile.open(tmp_path / "a.tar", "w") as tar:
        add_member(tar, "k1.png", png_bytes(image))
        add_member(tar, "k1.jpg", png_bytes(image[::-1]))  # same key, preferred extension wins
        add_member(tar, "k1.txt", b"caption")
        add_member(tar, "k0.json", b"{}")  # a key without an image is no image
    ids, images = read_shard(list_shards(tmp_path)[0])
    assert ids == ["a/k1"] and np.array_equal(images[0], image[::-1])


@pytest.mark.parametrize("layout, message", [
    ("missing", "does not exist"), ("empty", "no .tar shards"), ("mixed", "both images and shard folders"),
])
def test_bad_collections_name_the_folder(tmp_path, layout, message):
    root = tmp_path / "collection"
    if layout != "missing":
        root.mkdir()
    if layout == "mixed":
        write_files(root, n_shards=1, per_shard=1)
        Image.fromarray(random_images(1, 8, 0)[0]).save(root / "loose.png")
    with pytest.raises(DataError, match=message) as err:
        list_shards(root)
    assert str(root) in str(err.value)


def test_corrupt_image_and_mixed_sizes_name_the_file(tmp_path):
    with tarfile.open(tmp_path / "bad.tar", "w") as tar:
        add_member(tar, "k0.png", b"not an image")
    with pytest.raises(DataError, match=r"bad\.tar:k0\.png"):
        read_shard(list_shards(tmp_path)[0])
    (tmp_path / "not-a.tar").write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"cannot read shard .*not-a\.tar"):
        read_shard(list_shards(tmp_path)[1])
    other = tmp_path / "sizes"
    other.mkdir()
    write_tar(other / "s.tar", random_images(1, 8, 0), 0)
    with tarfile.open(other / "s.tar", "a") as tar:
        add_member(tar, "zz.png", png_bytes(random_images(1, 9, 0)[0]))
    with pytest.raises(DataError, match=r"differ in size .* pass a resolution"):
        read_shard(list_shards(other)[0])
    assert read_shard(list_shards(other)[0], resolution=8)[1].shape == (2, 8, 8, 3)
    assert np.array_equal(read_shard(list_shards(other)[0], resolution=8)[1][1],
                          square_resize(Image.fromarray(random_images(1, 9, 0)[0]), 8))
