"""Evaluators the Ray tests send to cluster workers (importable there: the test cluster's PYTHONPATH has tests/)."""

import os

from nsganet.errors import NsganetError


def dies_on_some(arch):
    """Kills its worker process for every genome whose sum is divisible by 5; scores the rest."""
    total = int(sum(arch.genome))
    if total % 5 == 0:
        os._exit(1)
    return {"error": float(total), "size": float(max(arch.genome))}


def fails_on_setup(arch):
    """A mistake in the set-up (not in the architecture): the search must stop with it."""
    raise NsganetError("the evaluator's data directory is missing")


def slow_sum(arch):
    """Scores a genome by its sum after a short wait, long enough for a node to die mid-evaluation."""
    import time

    time.sleep(0.5)
    return {"error": float(sum(arch.genome)), "size": float(max(arch.genome))}
