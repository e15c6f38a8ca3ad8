import numpy as np
import pytest

from copyscope.search import top_k


def _unit(rng, n, d):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


@pytest.mark.parametrize("database_chunk,query_chunk", [(10_000, 10_000), (37, 11)])
def test_matches_brute_force(database_chunk, query_chunk):
    rng = np.random.default_rng(0)
    queries, database = _unit(rng, 120, 24), _unit(rng, 300, 24)
    scores, ids = top_k(queries, database, k=5, database_chunk=database_chunk, query_chunk=query_chunk)
    brute = queries @ database.T
    expected = np.argsort(-brute, axis=1)[:, :5]
    assert np.array_equal(ids, expected)
    assert np.allclose(scores, np.take_along_axis(brute, expected, axis=1), atol=1e-5)


@pytest.mark.parametrize("database_chunk", [10_000, 13])
def test_exclude_self_finds_nearest_other(database_chunk):
    rng = np.random.default_rng(1)
    database = _unit(rng, 50, 8)
    scores, ids = top_k(database, database, k=2, exclude_self=True, database_chunk=database_chunk)
    brute = database @ database.T
    np.fill_diagonal(brute, -np.inf)
    assert np.array_equal(ids, np.argsort(-brute, axis=1)[:, :2])
    assert (ids != np.arange(50)[:, None]).all()


def test_memory_mapped_database(tmp_path):
    rng = np.random.default_rng(2)
    database = _unit(rng, 200, 16)
    np.save(tmp_path / "db.npy", database)
    mapped = np.load(tmp_path / "db.npy", mmap_mode="r")
    queries = database[:7] * 0.9
    _, ids = top_k(queries, mapped, k=1, database_chunk=64)
    assert np.array_equal(ids[:, 0], np.arange(7))


def test_bad_requests_are_clear():
    x = np.eye(3, dtype=np.float32)
    with pytest.raises(ValueError, match="neighbours"):
        top_k(x, x, k=3, exclude_self=True)
    with pytest.raises(ValueError, match="itself"):
        top_k(x[:2], x, k=1, exclude_self=True)
