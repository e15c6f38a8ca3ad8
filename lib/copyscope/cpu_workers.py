"""Worker processes that split the cores: on few cores, small models' trainings and generations side by side, one
thread each, make more steps per second than one process using every core (measured on 2 cores: two one-thread
trainings 4.05 steps/s against 2.42 for one two-thread training; two one-thread processes each generating 256 images
of the detection model 26.0 and 26.5 s, one two-thread process 21.9 s for 256).

A script that starts workers must guard its entry point (`if __name__ == "__main__":`): each worker imports the
script's module, as with every multiprocessing start method but fork."""
from __future__ import annotations

import functools
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor

import torch

from copyscope import paths

# Fork after torch has started threads can hang: workers fork from a fresh server process that has imported these
# modules (torch, diffusers) once and runs nothing, so each worker skips their import.
PRELOAD = ["copyscope.stages.train", "copyscope.sampling"]


def cores() -> int:
    """The cores this process may use: torch's thread count."""
    return torch.get_num_threads()


def worker_pool(n: int, ignore_interrupts: bool = False) -> ProcessPoolExecutor:
    """A pool of n workers that split this process's cores and know its repository (the fork server may have
    started in another); with `ignore_interrupts` they leave Ctrl-C to this process."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(PRELOAD)
    return ProcessPoolExecutor(n, mp_context=context, initializer=_start_worker,
                               initargs=(max(1, cores() // n), str(paths.repo_root()), ignore_interrupts))


@functools.cache
def shared_pool(n: int) -> ProcessPoolExecutor:
    """One pool of n workers for the life of this process (a notebook pays their start-up once). Its workers ignore
    Ctrl-C: Jupyter interrupts the kernel's whole process group before shutting it down, and an interrupted caller
    waits for a worker's current share of one generation run at most."""
    return worker_pool(n, ignore_interrupts=True)


def _start_worker(threads: int, root: str, ignore_interrupts: bool) -> None:
    torch.set_num_threads(threads)
    os.environ["COPYSCOPE_ROOT"] = root
    if ignore_interrupts:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
