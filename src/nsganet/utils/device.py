"""Which devices this process computes on and may hand out to workers."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any


def default_device() -> Any:
    """Where networks train and run: the first visible GPU when there is one, else the CPU (a ``torch.device``).

    A pool worker sees only its own GPU, so this is that worker's GPU.
    """
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def visible_gpus(environ: Mapping[str, str] | None = None) -> list[str]:
    """Ids of the GPUs this process may hand out: ``CUDA_VISIBLE_DEVICES`` when set, else every CUDA device.

    As CUDA does, the list stops at the first entry that is not a device
    (``-1`` hides every GPU).
    """
    environ = os.environ if environ is None else environ
    listed = environ.get("CUDA_VISIBLE_DEVICES")
    if listed is None:
        import torch

        return [str(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() else []
    ids: list[str] = []
    for entry in (e.strip() for e in listed.split(",")):
        if not entry or entry.startswith("-"):
            break
        ids.append(entry)
    return ids
