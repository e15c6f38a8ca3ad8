"""Sharded embedding on a Ray local cluster: the same embeddings as one process, resumable after a kill."""
import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import ray

from copyscope.data.sources import DataError, folder_set
from copyscope.embed.registry import get_extractor
from copyscope.embedding_set import CONFIG, EmbeddingSet, embedding_file
from copyscope.sharded_embedding import EmbeddingJob, embed_shards, main
from tests.shard_fakes import add_member, write_webdataset

SHARDS, PER_SHARD, SIZE = 10, 1000, 8
JOB = EmbeddingJob("pixel", {"size": SIZE}, dtype="float32", batch_size=256)


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    """10 webdataset shards of 1000 8×8 images (10k), and every image in id order."""
    root = tmp_path_factory.mktemp("webdataset")
    return root, write_webdataset(root, SHARDS, PER_SHARD, SIZE, seed=0)


@pytest.fixture(scope="module")
def single_process(collection, tmp_path_factory):
    root, _ = collection
    return embed_shards(root, tmp_path_factory.mktemp("local"), JOB, engine="local", progress=False).embeddings


def everything(embeddings: EmbeddingSet) -> np.ndarray:
    return np.concatenate([embeddings.shard(i) for i in range(len(embeddings.shards))])


def test_single_process_is_the_in_memory_extractor(collection, single_process):
    root, images = collection
    assert len(single_process) == SHARDS * PER_SHARD and single_process.dim == SIZE * SIZE * 3
    assert single_process.ids() == folder_set(root, SIZE).ids
    assert np.array_equal(everything(single_process), get_extractor("pixel", size=SIZE)(images))
    assert single_process.config == {"extractor": "pixel", "options": {"size": SIZE}, "dtype": "float32",
                                     "resolution": None}


def test_ray_two_workers_give_the_single_process_embeddings(cluster, collection, single_process, tmp_path):
    root, _ = collection
    run = embed_shards(root, tmp_path, JOB, engine="ray", workers=2, progress=False)
    assert sorted(run.embedded) == [f"{s:05d}" for s in range(SHARDS)] and run.skipped == []
    assert len(set(run.embedded.values())) == 2  # both workers embedded shards
    assert run.embeddings.ids() == single_process.ids()
    assert np.array_equal(everything(run.embeddings), everything(single_process))


def test_killed_run_resumes_without_redoing_finished_shards(collection, single_process, tmp_path):
    """A run killed (SIGKILL) while blocked on shard 00005 — a FIFO nobody writes — leaves shards 00000-00004
    finished; the rerun embeds only the other five and leaves the finished files untouched. (Which shards are left
    is decided before any engine starts, so this holds for Ray runs alike; the local engine keeps the test short.)"""
    root, _ = collection
    source, out = tmp_path / "source", tmp_path / "out"
    shutil.copytree(root, source)
    os.remove(source / "00005.tar")
    os.mkfifo(source / "00005.tar")
    command = [sys.executable, "-m", "copyscope.sharded_embedding", str(source), str(out), "--engine", "local",
               "--extractor", "pixel", "--option", f"size={SIZE}", "--dtype", "float32"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    finished = [embedding_file(out, f"{s:05d}") for s in range(5)]
    deadline = time.monotonic() + 120
    while not all(f.exists() for f in finished) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # it is now blocked opening the FIFO
    assert process.poll() is None, "the run ended before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert sorted(p.name for p in out.glob("*.npy")) == [f"{s:05d}.npy" for s in range(5)]
    assert not (out / "manifest.json").exists()
    before = {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in finished}

    os.remove(source / "00005.tar")
    shutil.copy(root / "00005.tar", source / "00005.tar")
    run = embed_shards(source, out, JOB, engine="local", progress=False)
    assert run.skipped == [f"{s:05d}" for s in range(5)]
    assert sorted(run.embedded) == [f"{s:05d}" for s in range(5, SHARDS)]
    assert {f.name: (f.stat().st_ino, f.stat().st_mtime_ns) for f in finished} == before
    assert np.array_equal(everything(run.embeddings), everything(single_process))
    assert embed_shards(source, out, JOB, engine="ray", progress=False).embedded == {}  # nothing left: no Ray


def test_worker_errors_reach_the_caller_unwrapped(cluster, tmp_path):
    import tarfile

    write_webdataset(tmp_path / "src", 2, 3, SIZE)
    with tarfile.open(tmp_path / "src" / "00001.tar", "a") as tar:
        add_member(tar, "zzz.png", b"broken")
    with pytest.raises(DataError, match=r"00001\.tar:zzz\.png"):
        embed_shards(tmp_path / "src", tmp_path / "out", JOB, engine="ray", workers=1, progress=False)


def test_float16_and_resumed_config_checks(collection, single_process, tmp_path):
    root, _ = collection
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy(root / "00000.tar", small)
    half = embed_shards(small, tmp_path / "half", EmbeddingJob("pixel", {"size": SIZE}), engine="local",
                        progress=False).embeddings
    assert half.dtype == "float16"
    assert np.array_equal(half.shard(0), single_process.shard(0).astype(np.float16).astype(np.float32))
    with pytest.raises(ValueError, match=rf"{CONFIG} records another run"):
        embed_shards(small, tmp_path / "half", EmbeddingJob("pixel", {"size": 4}), engine="local", progress=False)


def test_bad_input_is_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match="unknown extractor 'nope'"):
        EmbeddingJob("nope")
    with pytest.raises(DataError, match="does not exist"):
        embed_shards(tmp_path / "missing", tmp_path / "out", JOB, engine="local")
    assert main([str(tmp_path / "missing"), str(tmp_path / "out"), "--engine", "local"]) == 2
    assert "error: image collection" in capsys.readouterr().err
    with pytest.raises(DataError, match="not a finished embedding set"):
        EmbeddingSet(tmp_path)


def test_command_line_embeds_and_reports(collection, tmp_path, capsys):
    root, _ = collection
    small = tmp_path / "small"
    small.mkdir()
    shutil.copy(root / "00003.tar", small)
    assert main([str(small), str(tmp_path / "out"), "--engine", "local", "--option", "size=4"]) == 0
    assert "1000 embeddings (48-d float16)" in capsys.readouterr().out
