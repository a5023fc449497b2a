"""Exceptions that nsganet turns into one-line messages instead of tracebacks."""

from __future__ import annotations

import re

_REFUSED_GLOBAL = re.compile(r"GLOBAL ([\w.]+)")
_UNPICKLER_ERROR = re.compile(r"WeightsUnpickler error:\s*(.+)")
_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;]*m")


class NsganetError(Exception):
    """A problem with the user's input or set-up: reported as one line, exit code 2."""


class InvalidArchitecture(NsganetError):
    """An architecture string or genome that the search space cannot decode."""


class ConfigError(NsganetError):
    """A configuration value that is missing, of the wrong type, or unknown."""


def torch_load_problem(exc: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` failed, in one short line.

    torch refuses a file that pickles Python objects other than tensors and
    plain containers with paragraphs of advice on loading it unsafely; this
    names the first refused object instead. Files that are not torch files at
    all (or damaged ones) get the reader's own short reason, not that advice.
    """
    text = _TERMINAL_CODES.sub("", str(exc))
    if "Weights only load failed" in text:
        match = _REFUSED_GLOBAL.search(text)
        if match is None:
            detail = _UNPICKLER_ERROR.search(text)
            return f"damaged or not a PyTorch file ({detail.group(1).strip() if detail else 'unreadable pickle'})"
        return f"refused: it holds pickled Python objects ({match.group(1)}), not only tensors and plain containers"
    first = (text.strip().splitlines() or [type(exc).__name__])[0]
    if first.startswith("PytorchStreamReader failed"):  # a damaged zip: drop miniz's paragraph of advice
        return f"damaged or not a PyTorch file ({first.split('. ')[0]})"
    return first[:200]
