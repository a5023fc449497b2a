"""What an evaluator is, how a search asks for one, and the registry of evaluator kinds.

An evaluator is any callable ``evaluator(arch) -> {"error": ..., ...}`` (or a
single float, read as the error). It may declare the objectives it returns in
a ``provides`` attribute so a run can check them before it starts, a
``network_shape`` (``num_classes``, ``input_size``, ``in_channels`` of the
networks it scores) and a ``space`` (when it scores a space of its own, e.g.
the one shaped by its supernet). An evaluator that trains can offer
``with_epochs(n)``: the same evaluator training for ``n`` epochs, whose result
equals that of a run configured with ``epochs=n``; multi-fidelity evaluation
(:mod:`nsganet.search.fidelity`) asks for it (:func:`trains_at_epochs`).

The evaluator *kinds* a configured search chooses from (a tabular benchmark,
proxy training, weight inheritance) register a factory at their definition
site: ``@EVALUATORS.register("proxy")`` on a function of an
:class:`EvaluatorRequest`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nsganet.registry import Registry
from nsganet.spaces.base import Architecture, SearchSpace

Evaluator = Callable[[Architecture], float | Mapping[str, float]]
#: ``(all training images, search-train part, search-validation part)``; the test split is never read
SearchSplit = tuple[Any, Any, Any]


def trains_at_epochs(evaluator: object) -> bool:
    """Whether ``evaluator`` can train for a given number of epochs (it has a ``with_epochs`` method)."""
    return callable(getattr(evaluator, "with_epochs", None))


@dataclass
class EvaluatorRequest:
    """What a search hands an evaluator kind: its settings, the space, a folder of its own, and the data.

    ``config`` is the run's :class:`~nsganet.config.SearchConfig`; each kind
    reads the keys that concern it. ``work_dir`` (inside the run directory) is
    where the evaluator keeps what it makes, e.g. the supernet it trains.
    ``split()`` loads the configured data and its search split once, on first use.
    """

    config: Any
    space: SearchSpace
    work_dir: Path
    build_options: dict[str, Any]
    load_split: Callable[[], SearchSplit]
    progress: bool = True
    _split: SearchSplit | None = field(default=None, repr=False)

    def split(self) -> SearchSplit:
        if self._split is None:
            self._split = self.load_split()
        return self._split


#: Evaluator kinds by name: factories of an :class:`EvaluatorRequest`.
EVALUATORS: Registry[Callable[[EvaluatorRequest], Evaluator]] = Registry("evaluator")
