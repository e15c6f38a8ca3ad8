import pytest
import torch

from copyscope.devices import pick_device


def test_without_the_variable_the_device_is_cuda_when_available_else_the_cpu(monkeypatch):
    monkeypatch.delenv("COPYSCOPE_DEVICE", raising=False)
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")
    monkeypatch.setenv("COPYSCOPE_DEVICE", "")
    assert pick_device().type == ("cuda" if torch.cuda.is_available() else "cpu")


def test_the_cpu_is_the_default_without_cuda(monkeypatch):
    monkeypatch.delenv("COPYSCOPE_DEVICE", raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert pick_device() == torch.device("cpu")


def test_the_variable_is_honoured(monkeypatch):
    monkeypatch.setenv("COPYSCOPE_DEVICE", "cpu")
    assert pick_device() == torch.device("cpu")
    monkeypatch.setenv("COPYSCOPE_DEVICE", "meta")
    assert pick_device() == torch.device("meta")


def test_an_unknown_device_is_rejected_naming_the_variable(monkeypatch):
    monkeypatch.setenv("COPYSCOPE_DEVICE", "gpu0")
    with pytest.raises(ValueError, match=r"COPYSCOPE_DEVICE='gpu0' is not a device"):
        pick_device()


def test_cuda_without_cuda_is_rejected_naming_the_variable(monkeypatch):
    monkeypatch.setenv("COPYSCOPE_DEVICE", "cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match=r"COPYSCOPE_DEVICE='cuda' asks for CUDA, but CUDA is not available"):
        pick_device()


def test_a_gpu_index_beyond_the_visible_ones_is_rejected(monkeypatch):
    monkeypatch.setenv("COPYSCOPE_DEVICE", "cuda:7")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with pytest.raises(ValueError, match=r"COPYSCOPE_DEVICE='cuda:7' names a GPU this machine does not have"):
        pick_device()
