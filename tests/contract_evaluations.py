"""Evaluation functions the executor contract sends to workers (importable there: tests/ is on their path)."""

from nsganet.errors import NsganetError


def square(item):
    """Objective values of an item: its square, and the item itself."""
    return {"error": float(item) ** 2, "size": float(item)}


def fails_on_odd(item):
    """Odd items fail (an ordinary exception: a failed evaluation); even ones are squared."""
    if item % 2:
        raise ValueError(f"item {item} is odd")
    return square(item)


def setup_mistake(item):
    """A mistake in the set-up, not in the item: it must stop the search, not fail one evaluation."""
    raise NsganetError("the evaluator's data directory is missing")
