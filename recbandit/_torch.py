"""Torch helpers shared by the agents, encoders, user models and estimators.

Thread caps and seeded generators live here once. Torch is imported inside each helper,
so importing this module does not import torch.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch


@contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Run the block with ``n`` torch intra-op threads, then restore the caller's count.

    ``None`` or 0 leaves the setting alone. The count is set even when torch already
    reports ``n``: ``torch.set_num_threads`` also sets MKL's own count, which can differ
    from OpenMP's (e.g. inside threadpoolctl's limits after an earlier
    ``set_num_threads``) and then runs every small GEMM on contended threads. Small
    networks run fastest on one thread, and many threads spin against each other when
    other runs share the cores (a 40x slowdown measured on 2 busy cores).
    """
    if not n:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def torch_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A fresh ``torch.Generator`` on ``device`` seeded with ``seed`` (never the global one)."""
    import torch

    return torch.Generator(device=device).manual_seed(int(seed))


@contextmanager
def seeded_torch_rng(seed: int, device: str | torch.device = "cpu") -> Iterator[None]:
    """Seed torch's default generator (and ``device``'s CUDA one) for the block, then restore.

    For code that draws from torch's global generators and takes no generator argument
    (dropout inside a model, a library's own initialisation).
    """
    import torch

    device = torch.device(device)
    devices = []
    if device.type == "cuda":  # pragma: no cover - needs a GPU
        devices = [device.index if device.index is not None else torch.cuda.current_device()]
    with torch.random.fork_rng(devices=devices):
        torch.default_generator.manual_seed(int(seed))
        if device.type == "cuda":  # pragma: no cover - needs a GPU
            with torch.cuda.device(device):
                torch.cuda.manual_seed(int(seed))
        yield


@contextmanager
def isolated_global_rng(seed: int) -> Iterator[None]:
    """Seed Python's, numpy's and torch's global generators with ``seed``; restore them on exit.

    For libraries that draw from the global generators (stable-baselines3).

    Args:
        seed: in [0, 2**32).
    """
    py_state, np_state = random.getstate(), np.random.get_state()
    with seeded_torch_rng(seed):
        random.seed(seed)
        np.random.seed(seed)
        try:
            yield
        finally:
            random.setstate(py_state)
            np.random.set_state(np_state)
