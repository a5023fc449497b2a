"""Matplotlib without a display: every figure nsganet draws goes through :func:`pyplot`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any


def pyplot() -> Any:
    """``matplotlib.pyplot`` on the Agg (file-only) back-end, with matplotlib's own debug chatter muted."""
    import matplotlib

    quiet = logging.getLogger("matplotlib")
    quiet.setLevel(max(logging.INFO, quiet.level))
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig: Any, path: str | Path, dpi: int = 100) -> Path:
    """Write ``fig`` to ``path`` (its suffix names the format) through the atomic writer, and close it."""
    from nsganet.utils.files import atomic_write

    path = Path(path)
    try:
        atomic_write(path, lambda handle: fig.savefig(handle, format=path.suffix.lstrip(".") or "png", dpi=dpi))
    finally:
        pyplot().close(fig)
    return path
