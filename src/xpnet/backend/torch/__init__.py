"""PyTorch through array-api-compat: tensors on the CPU or a CUDA device (no faster forms, no stepper)."""

from __future__ import annotations

from typing import Any

from ..base import Backend, BackendError

#: PyPI's default torch wheel pulls gigabytes of CUDA libraries; the CPU build is what most readers want.
INSTALL_HINT = (
    "install PyTorch's CPU build (PyTorch's install page, compute platform 'CPU'; "
    "a plain 'pip install torch' brings gigabytes of CUDA libraries)"
)


class Torch(Backend):
    """PyTorch tensors, through ``array_api_compat.torch``."""

    name = "torch"

    def load(self) -> Any:
        try:
            import array_api_compat.torch as xp
        except ImportError as exc:
            raise BackendError(f"backend 'torch' asked for, but PyTorch is not installed: {INSTALL_HINT}") from exc
        return xp

    def device_name(self, xp: Any, device: Any) -> str:
        import torch

        device = torch.device("cpu") if device is None else torch.device(device)
        if device.type == "cuda":
            return f"{torch.cuda.get_device_name(device)} ({device})"
        return str(device)

    def synchronize(self, xp: Any) -> None:
        import torch

        if torch.cuda.is_available():
            torch.cuda.synchronize()

    def describe(self) -> list[str]:
        try:
            import torch
        except ImportError:
            return []
        cuda = torch.version.cuda
        lines = [f"torch {torch.__version__} ({'CUDA ' + cuda if cuda else 'CPU build'})"]
        if torch.cuda.is_available():
            for i in range(torch.cuda.device_count()):
                lines.append(f"  torch device cuda:{i}: {torch.cuda.get_device_name(i)}")
        return lines

    def to_numpy(self, x: Any) -> Any:
        return x.detach().cpu().numpy()


BACKEND = Torch()
