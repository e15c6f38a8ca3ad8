"""Data-parallel generation and embedding: `accelerate launch` with 2 CPU ranks gives the single-process result."""
import json
import socket
import subprocess
import sys
import threading
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from copyscope.data_parallel import (GENERATIONS, PARTS, embed_data_parallel, generate_data_parallel, main,
                                     part_bounds, part_file, rank_items, read_prompts)
from copyscope.embedding_set import EmbeddingSet
from copyscope.errors import UserError
from copyscope.sampling import generate
from copyscope.sharded_embedding import EmbeddingJob, embed_shards
from tests.conftest import tiny_model
from tests.shard_fakes import write_webdataset

PROMPTS = [f"a {colour} {shape}" for colour in ("red", "green", "blue") for shape in ("circle", "square")] * 2
SEED, STEPS, GUIDANCE, BATCH, PART = 7, 2, 3.0, 2, 4  # 12 prompts: 3 parts of 2 batches


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "tiny"
    tiny_model().save(path)
    return path


@pytest.fixture(scope="module")
def single_process(saved_model):
    from copyscope.models.text_to_image import TextToImage

    return generate(TextToImage.load(saved_model), PROMPTS, SEED, STEPS, GUIDANCE, BATCH, progress=False)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_parts_and_ranks_cover_every_item_once():
    assert part_bounds(10, 4) == [(0, 4), (4, 8), (8, 10)]
    for world in (1, 2, 3, 8):
        taken = sorted(i for rank in range(world) for i in rank_items(11, rank, world))
        assert taken == list(range(11))
    with pytest.raises(ValueError, match="rank 2 is not in a world of 2"):
        rank_items(5, 2, 2)


def test_accelerate_launch_two_cpu_ranks_equals_one_process(saved_model, single_process, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(PROMPTS))
    out = tmp_path / "out"
    launcher = Path(sys.executable).parent / "accelerate"
    command = [str(launcher), "launch", "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
               "--mixed_precision", "no", "--dynamo_backend", "no", "--main_process_port", str(free_port()),
               "-m", "copyscope.data_parallel", "--cpu", "generate", "--model", str(saved_model),
               "--prompts", str(prompts), "--out", str(out), "--seed", str(SEED), "--steps", str(STEPS),
               "--guidance", str(GUIDANCE), "--batch-size", str(BATCH), "--part-size", str(PART)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "rank 0/2: generated parts [(0, 4), (8, 12)]" in result.stdout
    assert "rank 1/2: generated parts [(4, 8)]" in result.stdout
    assert json.loads((out / "merge.json").read_text()) == {"world_size": 2, "parts": 3}
    merged = np.load(out / GENERATIONS)
    assert merged.dtype == np.uint8 and np.array_equal(merged, single_process)
    assert not (out / PARTS).exists()


class ThreadRanks:
    """`world` ranks as threads sharing a barrier: what accelerate's PartialState offers the loops."""

    def __init__(self, world: int):
        self.world, self.barrier = world, threading.Barrier(world, timeout=120)

    def state(self, rank: int) -> SimpleNamespace:
        return SimpleNamespace(process_index=rank, num_processes=self.world, is_main_process=rank == 0,
                               is_local_main_process=False, device=torch.device("cpu"),
                               wait_for_everyone=self.barrier.wait)

    def run(self, work) -> list:
        results, errors = [None] * self.world, []

        def one(rank):
            try:
                results[rank] = work(self.state(rank))
            except BaseException as err:  # reported below
                errors.append(err)
                self.barrier.abort()

        threads = [threading.Thread(target=one, args=(r,)) for r in range(self.world)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise errors[0]
        return results


def test_killed_generation_resumes_with_another_world_size(saved_model, single_process, tmp_path):
    """Parts finished by an earlier run are kept, whatever number of ranks reruns it."""
    out = tmp_path / "out"
    ThreadRanks(3).run(lambda s: generate_data_parallel(s, saved_model, PROMPTS, out, SEED, STEPS, GUIDANCE,
                                                        BATCH, PART))
    merged = np.load(out / GENERATIONS)
    assert np.array_equal(merged, single_process)
    (out / GENERATIONS).unlink()  # as if killed before the merge, with only the first part saved
    (out / PARTS).mkdir()
    np.save(part_file(out, 0, 4), merged[:4] * 0)  # a marker: a kept part is not regenerated
    ThreadRanks(2).run(lambda s: generate_data_parallel(s, saved_model, PROMPTS, out, SEED, STEPS, GUIDANCE,
                                                        BATCH, PART))
    resumed = np.load(out / GENERATIONS)
    assert not resumed[:4].any() and np.array_equal(resumed[4:], single_process[4:])
    with pytest.raises(ValueError, match="records another run"):
        ThreadRanks(1).run(lambda s: generate_data_parallel(s, saved_model, PROMPTS, out, SEED + 1, STEPS,
                                                            GUIDANCE, BATCH, PART))


def test_embedding_ranks_equal_the_single_process_set(tmp_path):
    write_webdataset(tmp_path / "src", n_shards=5, per_shard=40, size=8)
    job = EmbeddingJob("pixel", {"size": 8}, dtype="float32", batch_size=16)
    single = embed_shards(tmp_path / "src", tmp_path / "single", job, engine="local", progress=False).embeddings
    sets = ThreadRanks(2).run(lambda s: embed_data_parallel(s, tmp_path / "src", tmp_path / "ranks", job))
    assert all(isinstance(s, EmbeddingSet) for s in sets)
    assert sets[0].ids() == single.ids()
    assert all(np.array_equal(sets[0].shard(i), single.shard(i)) for i in range(5))


def test_bad_input_is_one_line(tmp_path, capsys):
    with pytest.raises(ValueError, match="multiple of batch_size"):
        ThreadRanks(1).run(lambda s: generate_data_parallel(s, "unused", PROMPTS, tmp_path, SEED, batch_size=4,
                                                            part_size=6))
    assert main(["--cpu", "generate", "--model", "m", "--prompts", str(tmp_path / "none.txt"),
                 "--out", str(tmp_path / "o")]) == 2
    assert "error: prompts file" in capsys.readouterr().err
    (tmp_path / "p.json").write_text('["a", 1]')
    with pytest.raises(UserError, match="JSON list of strings"):
        read_prompts(tmp_path / "p.json")
