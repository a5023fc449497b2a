"""Feature encodings of integer genomes for the accuracy predictors.

A predictor sees a genome through an ``encode`` callable (genome matrix ->
feature matrix). Two are provided, both built from a space's inclusive bounds
so that the features of a genome never depend on which genomes were seen:

* ``"integer"`` (:class:`IntegerFeatures`): every variable scaled to [0, 1].
  Compact, and meaningful where neighbouring values are similar choices.
* ``"onehot"`` (:class:`OneHotFeatures`): one column per value for variables
  with more than two values (categorical choices are equidistant), the
  variable itself (scaled to [0, 1]) for binary ones.

* ``"structure"`` (:class:`StructureFeatures`): the one-hot columns plus the
  space's data-free descriptors of what the network computes (a
  :class:`~nsganet.spaces.base.DescribedSpace`, e.g. NAS-Bench-201's live
  paths); just the one-hot columns in a space without descriptors.

All drop constant variables (lower == upper), which carry no information.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nsganet.registry import Registry

#: A feature encoding: integer genome matrix (n, n_var) -> float feature matrix (n, n_features).
Encoder = Callable[[np.ndarray], np.ndarray]


#: Genome encodings for predictors by name; each registers where it is defined.
FEATURES: Registry[type] = Registry("predictor features", "features", sort=True)


class _BoundedFeatures:
    """Shared checks of the bounded encodings."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray) -> None:
        self.lower = np.asarray(lower, dtype=np.int64).ravel()
        self.upper = np.asarray(upper, dtype=np.int64).ravel()
        if self.lower.shape != self.upper.shape or np.any(self.upper < self.lower):
            raise ValueError("feature bounds must be two 1-D arrays of equal length with lower <= upper")
        self.active = np.flatnonzero(self.upper > self.lower)

    def _check(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != len(self.lower):
            raise ValueError(f"expected genomes with {len(self.lower)} variables, got an array of shape {X.shape}")
        if not np.all((self.lower <= X) & (self.upper >= X)):
            raise ValueError("genome values outside the feature bounds")
        return X.astype(np.int64)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(lower={self.lower.tolist()}, upper={self.upper.tolist()})"


@FEATURES.register("integer")
class IntegerFeatures(_BoundedFeatures):
    """Each non-constant variable scaled to [0, 1] by its bounds."""

    @property
    def n_features(self) -> int:
        return len(self.active)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = self._check(X)[:, self.active]
        lower, upper = self.lower[self.active], self.upper[self.active]
        return (X - lower) / (upper - lower)


@FEATURES.register("onehot")
class OneHotFeatures(_BoundedFeatures):
    """One-hot columns for variables with more than two values, the scaled variable for binary ones."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray) -> None:
        super().__init__(lower, upper)
        widths = self.upper - self.lower + 1
        # first feature column of each active variable, and its number of columns
        self._widths = np.where(widths[self.active] > 2, widths[self.active], 1)
        self._offsets = np.concatenate([[0], np.cumsum(self._widths)[:-1]]).astype(np.int64)

    @property
    def n_features(self) -> int:
        return int(self._widths.sum())

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = self._check(X)
        out = np.zeros((len(X), self.n_features))
        rows = np.arange(len(X))
        for var, offset, width in zip(self.active, self._offsets, self._widths):
            value = X[:, var] - self.lower[var]
            if width == 1:  # binary variable: the variable itself
                out[:, offset] = value
            else:
                out[rows, offset + value] = 1.0
        return out


@FEATURES.register("structure")
class StructureFeatures(OneHotFeatures):
    """One-hot columns followed by ``descriptors(genomes)`` (columns in [0, 1]) when a space provides them."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray, descriptors: Encoder | None = None) -> None:
        super().__init__(lower, upper)
        self.descriptors = descriptors

    def __call__(self, X: np.ndarray) -> np.ndarray:
        onehot = super().__call__(X)
        if self.descriptors is None:
            return onehot
        return np.hstack([onehot, np.asarray(self.descriptors(self._check(X)), dtype=float)])


def feature_names() -> list[str]:
    return FEATURES.names()


def get_features(kind: str, lower: np.ndarray, upper: np.ndarray, descriptors: Encoder | None = None) -> Encoder:
    """The encoding ``kind`` of genomes within the bounds ``lower``..``upper``.

    ``descriptors`` (a space's :meth:`~nsganet.spaces.base.DescribedSpace.descriptors`) is used by
    ``"structure"`` only.
    """
    cls = FEATURES.get(kind)
    return cls(lower, upper, descriptors) if issubclass(cls, StructureFeatures) else cls(lower, upper)
