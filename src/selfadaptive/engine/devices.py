"""Pick the torch device from the config; no code path assumes a GPU."""
from __future__ import annotations

import torch

from ..errors import UserError


def uses_bf16(precision: str, device: torch.device) -> bool:
    """Whether ``precision`` (auto | fp32 | bf16) means bf16 autocast on ``device``: auto = on CUDA only."""
    return precision == "bf16" or (precision == "auto" and device.type == "cuda")


def uses_channels_last(enabled: bool, device: torch.device, input_shape: tuple) -> bool:
    """Whether ``channels_last`` means an NHWC layout here: images (C, H, W) on CUDA only."""
    return enabled and device.type == "cuda" and len(input_shape) == 3


def bf16_autocast(device: torch.device, enabled: bool):
    """The autocast context of a run (a no-op when ``enabled`` is False)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=enabled)


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA if present, else MPS, else CPU.  Asking for an absent device is a UserError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise UserError(f"device={name!r} is not a device name; use auto, cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UserError(f"device={name} was asked for, but no CUDA GPU is available; use device=cpu or device=auto")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UserError(f"device={name}: only {torch.cuda.device_count()} CUDA device(s) present")
    elif dev.type == "mps":
        if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
            raise UserError(f"device={name} was asked for, but MPS is not available; use device=cpu")
    elif dev.type != "cpu":
        raise UserError(f"device={name!r} is not supported; use auto, cpu, cuda, cuda:N or mps")
    return dev
