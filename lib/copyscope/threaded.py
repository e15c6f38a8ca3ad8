"""Independent pieces of a study's work side by side on a CPU: one Python thread per core, each torch op on one thread.

A study's cells (a model's seed, a mitigation setting) share nothing but read-only models, so they can run at once.
On a CPU, small models keep two cores busier as two one-thread streams of ops than as one two-thread stream (torch
releases the GIL inside its kernels), and threads cost nothing to start and share the loaded models, where worker
processes must be started and sent every model. Results come back in the items' order and equal the serial ones up
to float rounding (every generation's noise is drawn from its own seed; a one-thread kernel may sum in another
order: the studies' numbers agreed within 4e-7).
"""
from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

import torch
from tqdm.contrib.concurrent import thread_map

Item = TypeVar("Item")
Result = TypeVar("Result")


def cell_map(function: Callable[[Item], Result], items: Iterable[Item], desc: str = "cells",
             cost: Callable[[Item], float] | None = None, workers: int | None = None) -> list[Result]:
    """`[function(item) for item in items]`, on up to `workers` threads (default: torch's intra-op threads, one per
    core) with one intra-op thread each, then torch's thread count as it was; items of higher `cost` start first
    (so that a long one does not start last), results come back in the items' order. Serial where there is one
    item, one core or a GPU in use (CUDA kernels are asynchronous already)."""
    items = list(items)
    cores = torch.get_num_threads()
    workers = min(len(items), workers or cores)
    if workers <= 1 or torch.cuda.is_available():
        return [function(item) for item in items]

    def one_thread(item: Item) -> Result:
        torch.set_num_threads(1)  # OpenMP's thread count is per calling thread: set it in each worker
        return function(item)

    order = sorted(range(len(items)), key=lambda i: -cost(items[i])) if cost is not None else range(len(items))
    torch.set_num_threads(1)
    try:
        done = thread_map(one_thread, [items[i] for i in order], max_workers=workers, desc=desc, mininterval=5)
    finally:
        torch.set_num_threads(cores)
    results: list = [None] * len(items)
    for i, result in zip(order, done):
        results[i] = result
    return results
