import threading

import numpy as np
import pytest
import torch

from copyscope.sampling import generate
from copyscope.threaded import cell_map


@pytest.fixture
def two_threads():
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


def test_items_run_at_once_on_one_torch_thread_each_and_come_back_in_order(two_threads):
    together = threading.Barrier(2, timeout=20)  # broken, and raising, if the two items ran one after the other
    seen = []

    def work(item: int) -> int:
        seen.append(torch.get_num_threads())
        together.wait()
        return item * 10

    assert cell_map(work, [1, 2]) == [10, 20]
    assert seen == [1, 1]
    assert torch.get_num_threads() == 2


def test_costly_items_start_first_and_errors_reach_the_caller(two_threads):
    started, lock = [], threading.Lock()

    def work(item: int) -> int:
        with lock:
            started.append(item)
        return -item

    assert cell_map(work, [1, 5, 2, 4], cost=float) == [-1, -5, -2, -4]
    assert set(started[:2]) == {5, 4}

    def fail(item: int) -> int:
        raise ValueError(f"bad item {item}")

    with pytest.raises(ValueError, match="bad item"):
        cell_map(fail, [1, 2])
    assert torch.get_num_threads() == 2


def test_one_core_or_one_item_runs_in_the_calling_thread():
    caller = threading.get_ident()
    assert cell_map(lambda _: threading.get_ident(), [1, 2], workers=1) == [caller, caller]
    assert cell_map(lambda _: threading.get_ident(), [1], workers=2) == [caller]


def test_generations_side_by_side_equal_those_made_one_after_another(model):
    prompts = ["a red circle", "a blue square", "", "a red circle"]

    def run(seed: int) -> np.ndarray:
        return generate(model, prompts, seed=seed, steps=3, guidance=2.0, batch_size=2, progress=False)

    assert all(np.array_equal(a, b) for a, b in zip(cell_map(run, [0, 1, 2], workers=2), map(run, [0, 1, 2])))
