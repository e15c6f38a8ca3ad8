import csv
import io
import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from copyscope.data.dataset import ImageCaptionSet
from copyscope.data import sources
from copyscope.data.sources import DataError, digits_set, faces_set, folder_set


def _png(path, color=(200, 10, 10), size=(20, 12)):
    Image.new("RGB", size, color).save(path)


def test_packaged_digits_and_faces_load_offline():
    digits = digits_set(16)
    assert digits.images.shape == (1797, 16, 16, 3)
    assert "seven" in digits.labels and digits.captions[0][0].startswith("a handwritten digit")
    faces = faces_set(16)
    assert faces.images.shape == (100, 16, 16, 3) and set(faces.labels) == {"face"}


def test_csv_table_with_several_captions_per_file(tmp_path):
    _png(tmp_path / "a.png")
    _png(tmp_path / "b.png", (0, 0, 255))
    with open(tmp_path / "captions.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerows([["file", "caption"], ["a.png", "red"], ["b.png", "blue"], ["a.png", "a red square"]])
    data = folder_set(tmp_path, 8, "captions.csv")
    assert data.ids == ["a.png", "b.png"] and data.captions[0] == ["red", "a red square"]
    assert data.images.shape == (2, 8, 8, 3) and data.images[1, 4, 4, 2] > 200


def test_jsonl_table(tmp_path):
    _png(tmp_path / "x.png")
    (tmp_path / "c.jsonl").write_text(json.dumps({"file": "x.png", "caption": "a thing"}) + "\n")
    assert folder_set(tmp_path, 8, "c.jsonl").captions == [["a thing"]]


def test_img2dataset_files_layout(tmp_path):
    (tmp_path / "00000").mkdir()
    _png(tmp_path / "00000" / "000000001.png")
    (tmp_path / "00000" / "000000001.txt").write_text("a photo\n")
    data = folder_set(tmp_path, 8)
    assert data.ids == ["00000/000000001.png"] and data.captions == [["a photo"]]


def test_img2dataset_webdataset_layout(tmp_path):
    buffer = io.BytesIO()
    Image.new("RGB", (10, 10), (0, 255, 0)).save(buffer, format="PNG")
    with tarfile.open(tmp_path / "00000.tar", "w") as tar:
        for name, payload in (("k1.png", buffer.getvalue()), ("k1.txt", b"green"), ("k1.json", b"{}")):
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    data = folder_set(tmp_path, 8)
    assert data.ids == ["00000/k1"] and data.captions == [["green"]] and data.images[0, 0, 0, 1] > 200


def test_corrupt_image_error_names_the_file(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not an image")
    (tmp_path / "bad.txt").write_text("caption")
    with pytest.raises(DataError, match="bad.jpg"):
        folder_set(tmp_path, 8)


def test_missing_caption_error_names_the_file(tmp_path):
    _png(tmp_path / "lonely.png")
    with pytest.raises(DataError, match="lonely.png"):
        folder_set(tmp_path, 8)
    (tmp_path / "t.csv").write_text("file,caption\nlonely.png,\n")
    with pytest.raises(DataError, match="lonely.png"):
        folder_set(tmp_path, 8, "t.csv")


def test_table_naming_a_missing_file(tmp_path):
    (tmp_path / "t.csv").write_text("file,caption\nghost.png,boo\n")
    with pytest.raises(DataError, match="ghost.png"):
        folder_set(tmp_path, 8, "t.csv")


def test_save_load_round_trip(tmp_path, shapes):
    shapes.save(tmp_path / "s")
    again = ImageCaptionSet.load(tmp_path / "s")
    assert np.array_equal(again.images, shapes.images) and np.array_equal(again.masks, shapes.masks)
    assert again.captions == shapes.captions and again.ids == shapes.ids and again.meta == shapes.meta


def test_inconsistent_dataset_is_rejected(shapes):
    with pytest.raises(ValueError, match="captions"):
        ImageCaptionSet(shapes.images, shapes.captions[:-1], shapes.labels, shapes.ids)
    with pytest.raises(ValueError, match="caption"):
        ImageCaptionSet(shapes.images, [[]] * len(shapes), shapes.labels, shapes.ids)


def test_titles_end_procedural_captions_and_can_be_removed():
    titled = sources.procedural_set(3, 16, seed=0, max_objects=2, n_captions=2, identifiers=True)
    plain = sources.procedural_set(3, 16, seed=0, max_objects=2, n_captions=2, identifiers=False)
    for caps, plain_caps, title in zip(titled.captions, plain.captions, titled.meta["titles"]):
        assert all(c.endswith(f"{sources.TITLE}{title}") for c in caps)
        assert [sources.without_title(c) for c in caps] == plain_caps
    assert sources.without_title("no title here") == "no title here"
