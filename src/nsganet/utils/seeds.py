"""The one way nsganet derives seeds: from a run seed and names, independent of Python's hash randomisation."""

from __future__ import annotations

import hashlib


def derived_seed(*parts: object) -> int:
    """A 63-bit seed from ``parts`` (e.g. ``derived_seed(seed, "data", epoch)``, ``derived_seed(seed, arch)``).

    The parts are joined with ``:`` and hashed with SHA-256, so the same
    parts give the same seed on every machine and in every process.
    """
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "little") & (2**63 - 1)
