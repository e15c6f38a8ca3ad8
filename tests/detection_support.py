"""Shared by the detection tests: run the tiny model on one CPU thread.

With two threads, each of the tiny model's many small operations waits on a second thread; on a busy machine that
makes a UNet call about 100x slower than on one thread.
"""
import pytest
import torch


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
