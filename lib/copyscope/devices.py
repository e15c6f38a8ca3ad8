"""Where every stage and model runs: $COPYSCOPE_DEVICE if set, else CUDA when present, else the CPU."""
from __future__ import annotations

import os

import torch

from copyscope.errors import UserError

VARIABLE = "COPYSCOPE_DEVICE"


class DeviceError(UserError, ValueError):
    """$COPYSCOPE_DEVICE names a device this machine cannot use."""


def pick_device() -> torch.device:
    """$COPYSCOPE_DEVICE if set (and usable here), else CUDA when available, else the CPU."""
    requested = os.environ.get(VARIABLE)
    if not requested:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return _checked(requested)


def _checked(requested: str) -> torch.device:
    """The device `requested` names, or a DeviceError saying why $COPYSCOPE_DEVICE cannot be used."""
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise DeviceError(f"{VARIABLE}={requested!r} is not a device torch knows (try 'cpu', 'cuda' or 'cuda:0')"
                         ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise DeviceError(f"{VARIABLE}={requested!r} asks for CUDA, but CUDA is not available on this machine")
    if device.type == "cuda" and (device.index or 0) >= torch.cuda.device_count():
        raise DeviceError(f"{VARIABLE}={requested!r} names a GPU this machine does not have "
                         f"({torch.cuda.device_count()} visible)")
    return device
