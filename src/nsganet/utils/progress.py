"""The one progress bar nsganet shows (on stderr; redrawn rarely when stderr is not a terminal)."""

from __future__ import annotations

import sys
from typing import Any


def progress_bar(total: int, initial: int = 0, desc: str = "", unit: str = "it", enabled: bool = True) -> Any:
    """A tqdm bar on stderr counting to ``total`` from ``initial``; disabled, it draws nothing."""
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, desc=desc or None, unit=unit, disable=not enabled, file=sys.stderr,
                dynamic_ncols=True, mininterval=0.1 if sys.stderr.isatty() else 5.0)
