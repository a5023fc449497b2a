"""Which devices this process computes on and may hand out to workers, and in what precision."""

from __future__ import annotations

import os
import re
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


#: What ``--device`` takes besides ``cuda:N``: the GPU when there is one, the CPU, the first visible GPU.
DEVICES = ("auto", "cpu", "cuda")
#: Mixed-precision modes: ``auto`` (on a GPU: bf16 where it is supported, else fp16 with loss scaling; on the
#: CPU: off), ``off``, ``bf16`` (CPU or GPU), ``fp16`` (GPU only).
AMP_MODES = ("auto", "off", "bf16", "fp16")
_CUDA_INDEX = re.compile(r"cuda:\d+")


def check_device(spec: str) -> str:
    """``spec`` when it names a device nsganet can use (``auto``, ``cpu``, ``cuda``, ``cuda:N``); else an error."""
    from nsganet.errors import ConfigError

    if not isinstance(spec, str) or (spec not in DEVICES and not _CUDA_INDEX.fullmatch(spec)):
        raise ConfigError(f"device must be auto, cpu, cuda or cuda:N, got {spec!r}")
    return spec


def resolve_device(spec: str | None = "auto") -> Any:
    """The ``torch.device`` of a ``--device`` value; a GPU that is not there is a one-line error."""
    import torch

    from nsganet.errors import NsganetError

    spec = check_device(spec or "auto")
    if spec == "auto":
        return default_device()
    if spec == "cpu":
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise NsganetError(f"--device {spec}: no CUDA GPU is visible to this process")
    device = torch.device(spec)
    if device.index is not None and device.index >= torch.cuda.device_count():
        raise NsganetError(f"--device {spec}: this process sees {torch.cuda.device_count()} GPU(s)")
    return device


def amp_dtype(mode: str, device: Any) -> Any:
    """The autocast dtype of mixed-precision ``mode`` on ``device`` (None: full precision)."""
    import torch

    from nsganet.errors import ConfigError

    if mode not in AMP_MODES:
        raise ConfigError(f"amp must be one of {', '.join(AMP_MODES)}, got {mode!r}")
    cuda = torch.device(device).type == "cuda"
    if mode == "off" or (mode == "auto" and not cuda):
        return None
    if mode == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if mode == "fp16" and not cuda:
        raise ConfigError("fp16 mixed precision needs a CUDA device; use --amp bf16 on the CPU")
    return torch.bfloat16 if mode == "bf16" else torch.float16


def machine_description() -> dict[str, Any]:
    """The machine this process runs on: platform, CPU model and cores, Python and torch versions, GPUs."""
    import platform
    import sys
    from pathlib import Path

    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpus = [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())] if torch.cuda.is_available() \
        else []
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu, "cpu_count": os.cpu_count(),
            "gpus": gpus, "python": sys.version.split()[0], "torch": torch.__version__}

