import numpy as np
import pytest

from copyscope.benchmark.copies import build_benchmark, cutmix_copy, segmix_copies, segmix_copy
from copyscope.data.sources import procedural_set


@pytest.fixture(scope="module")
def pool():
    return procedural_set(60, 16, seed=5, max_objects=2, n_captions=1, identifiers=False)


def _two_images(seed=0, size=32):
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (size, size, 3), dtype=np.uint8),
            rng.integers(0, 256, (size, size, 3), dtype=np.uint8))


def test_cutmix_pastes_a_square_box_of_beta_area_in_place():
    source, target = _two_images()
    for seed in range(5):
        copy = cutmix_copy(source, target, 0.5, np.random.default_rng(seed))
        area = np.random.default_rng(seed).beta(0.5, 0.5)
        side = int(np.clip(round(np.sqrt(area) * 32), 1, 32))
        rows, cols = np.flatnonzero(copy.region.any(axis=1)), np.flatnonzero(copy.region.any(axis=0))
        assert len(rows) == len(cols) == side and copy.region.sum() == side ** 2
        assert np.array_equal(copy.image[copy.region], source[copy.region])
        assert np.array_equal(copy.image[~copy.region], target[~copy.region])
    with pytest.raises(ValueError, match="beta"):
        cutmix_copy(source, target, 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one size"):
        cutmix_copy(source, target[:16], 1, np.random.default_rng(0))


def test_segmix_pastes_the_augmented_object_somewhere_else():
    source, target = _two_images(1)
    mask = np.zeros((32, 32), np.uint8)
    mask[4:12, 20:28] = 3  # an 8×8 object
    one = segmix_copy(source, mask, target, np.random.default_rng(0))
    assert np.array_equal(one.image, segmix_copy(source, mask, target, np.random.default_rng(0)).image)
    n = 12
    copies = segmix_copies(np.stack([source] * n), np.stack([mask] * n), np.stack([target] * n),
                           np.random.default_rng(1))
    for copy in copies + [one]:
        assert np.array_equal(copy.image[~copy.region], target[~copy.region])
        assert not np.array_equal(copy.image[copy.region], target[copy.region])
    sizes = [copy.region.sum() for copy in copies]
    # resized by U(0.75, 1) and rotated by at most 10°: 36–64 pixels, give or take the edge
    assert 28 <= min(sizes) and max(sizes) <= 72 and len(set(sizes)) > 1
    places = {tuple(np.argwhere(copy.region).min(axis=0)) for copy in copies}
    assert len(places) > n // 2  # pasted at random places
    with pytest.raises(ValueError, match="empty"):
        segmix_copy(source, np.zeros_like(mask), target, np.random.default_rng(0))
    with pytest.raises(ValueError, match="do not match"):
        segmix_copy(source, mask[:16], target, np.random.default_rng(0))
    with pytest.raises(ValueError, match="one size"):
        segmix_copy(source, mask, target[:16], np.random.default_rng(0))


def test_benchmark_pools_are_disjoint_and_sources_are_recoverable(pool):
    b = build_benchmark(pool.images, pool.masks, 10, 6, 12, kind="both", beta=1.0, seed=3)
    assert b.database.shape == (22, 16, 16, 3) and b.queries.shape == (16, 16, 16, 3)
    assert set(b.kind[:10]) <= {"cutmix", "segmix"} and set(b.kind[:10]) == {"cutmix", "segmix"}
    assert (b.kind[10:] == "distractor").all() and (b.source_index[10:] == -1).all()
    assert not set(b.database_origin) & set(b.query_origin)  # targets and distractor queries are not in the database
    assert len(set(b.database_origin)) == 22 and len(set(b.query_origin)) == 16
    assert np.array_equal(b.database, pool.images[b.database_origin])
    assert np.array_equal(b.queries[10:], pool.images[b.query_origin[10:]])
    for q in range(10):
        target, source = pool.images[b.query_origin[q]], b.database[b.source_index[q]]
        changed = (b.queries[q] != target).any(axis=-1)
        assert changed.any() and np.isclose(b.copied_fraction[q], changed.mean(), atol=0.25)
        if b.kind[q] == "cutmix":  # pasted in place, unaltered
            assert np.array_equal(b.queries[q][changed], source[changed])
    assert (b.copied_fraction[10:] == 0).all() and b.is_copy.sum() == 10


def test_benchmark_is_deterministic_in_the_seed(pool):
    a = build_benchmark(pool.images, pool.masks, 8, 4, 8, kind="segmix", seed=1)
    b = build_benchmark(pool.images, pool.masks, 8, 4, 8, kind="segmix", seed=1)
    c = build_benchmark(pool.images, pool.masks, 8, 4, 8, kind="segmix", seed=2)
    assert np.array_equal(a.queries, b.queries) and np.array_equal(a.source_index, b.source_index)
    assert not np.array_equal(a.queries, c.queries)
    assert (a.kind[:8] == "segmix").all()


def test_benchmark_requests_are_checked(pool):
    with pytest.raises(ValueError, match="need 70 images; got 60"):
        build_benchmark(pool.images, pool.masks, 30, 5, 5)
    with pytest.raises(ValueError, match="need object masks"):
        build_benchmark(pool.images, None, 5, 5, 5, kind="segmix")
    with pytest.raises(ValueError, match="unknown copy kind"):
        build_benchmark(pool.images, pool.masks, 5, 5, 5, kind="outpaint")
    empty = np.zeros_like(pool.masks)
    empty[:3] = pool.masks[:3]
    with pytest.raises(ValueError, match="non-empty mask"):
        build_benchmark(pool.images, empty, 5, 5, 5, kind="segmix")
    cutmix_only = build_benchmark(pool.images, None, 5, 5, 5, kind="cutmix")
    assert (cutmix_only.kind[:5] == "cutmix").all()
