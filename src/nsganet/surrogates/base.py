"""The predictor interface, the target transforms and the registry that maps names to predictors.

A predictor learns a genome's error from evaluated genomes so that a
surrogate-assisted search (NSGANetV2) can rank candidates it has not trained.
Hyper-parameters are dataclass fields (like strategies' options); fitted state
is set by :meth:`Predictor.fit`. Every predictor is deterministic given its
``seed``. The shared work (checking input, encoding genomes into features,
transforming the target, degenerate data) lives here, so that a model class
only implements ``_fit`` and ``_predict`` on a float feature matrix.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from typing import Any, ClassVar

import numpy as np
from scipy import stats

from nsganet.errors import ConfigError
from nsganet.registry import Registry
from nsganet.surrogates.features import Encoder
from nsganet.surrogates.metrics import quality
from nsganet.utils.checks import coerce_numeric_options

logger = logging.getLogger(__name__)

#: Targets a predictor can be fitted on: the error itself, its logarithm, or its rank in [0, 1].
TARGETS = ("raw", "log", "rank")


class TargetTransform:
    """A monotone transform of the training target and its inverse for predictions.

    ``log`` compresses the few very bad architectures of a table like
    NAS-Bench-201's (~90 % error among mostly 6-15 %) so that the good region
    dominates the fit: ``log(y)``, or ``log(y + shift)`` where some ``y <= 0``;
    predictions are capped one training range above the worst training value
    (an extrapolating model could otherwise overflow ``exp``).
    ``rank`` fits on ``(rank - 0.5) / n``; predictions are mapped back by
    interpolating the training values at their ranks. Targets are errors,
    minimised: below the best training value the map extends the slope of its
    lowest tenth, so that candidates predicted better than the best seen keep
    their order (what a search needs); above the worst it stays at the worst
    value (an extrapolated bad error would only add to the RMSE).
    """

    def __init__(self, kind: str = "raw") -> None:
        if kind not in TARGETS:
            raise ConfigError(f"unknown predictor target {kind!r}; known targets: {', '.join(TARGETS)}")
        self.kind = kind
        self.shift = 0.0
        self._cap = np.inf
        self._ranks = self._values = np.zeros(0)
        self._slope = 0.0

    def fit_transform(self, y: np.ndarray) -> np.ndarray:
        """Learn the transform from the training target ``y`` and return the transformed target."""
        if self.kind == "log":
            low = float(y.min())
            self.shift = 0.0 if low > 0 else -low + 0.01 * (float(np.ptp(y)) or 1.0)
            z = np.log(y + self.shift)
            self._cap = float(z.max() + np.ptp(z))
            return z
        if self.kind == "rank":
            z = (stats.rankdata(y) - 0.5) / len(y)
            values, first = np.unique(y, return_index=True)
            ranks = z[first]  # tied values share their average rank
            self._values, self._ranks = values, ranks
            if len(values) > 1:
                k = max(1, len(values) // 10)
                self._slope = (values[k] - values[0]) / (ranks[k] - ranks[0])
            return z
        return y.copy()

    def inverse(self, z: np.ndarray) -> np.ndarray:
        """Predictions in the transformed space mapped back to the target's units."""
        if self.kind == "log":
            return np.exp(np.minimum(z, self._cap)) - self.shift
        if self.kind == "rank":
            ranks, values = self._ranks, self._values
            return np.where(z < ranks[0], values[0] + (z - ranks[0]) * self._slope, np.interp(z, ranks, values))
        return z


class _MinMax:
    """Default encoding: each variable scaled to [0, 1] by the training genomes' range (constant ones dropped)."""

    def __init__(self, X: np.ndarray) -> None:
        self.low = X.min(axis=0).astype(float)
        self.span = np.ptp(X, axis=0).astype(float)
        self.active = np.flatnonzero(self.span > 0)

    def __call__(self, X: np.ndarray) -> np.ndarray:
        X = np.asarray(X, dtype=float)
        return (X[:, self.active] - self.low[self.active]) / self.span[self.active]


@contextlib.contextmanager
def single_threaded() -> Iterator[None]:
    """Limit BLAS to one thread while a predictor fits or predicts (OpenMP, which torch uses, is left alone).

    Its matrices are small (a few hundred points): threads gain little there,
    and on a machine already busy (training workers, parallel runs) they
    oversubscribe the cores; a GP fit on 200 points took 28 s instead of 0.6 s.
    """
    from threadpoolctl import threadpool_limits  # a scikit-learn dependency

    with threadpool_limits(limits=1, user_api="blas"):
        yield


def identity(X: np.ndarray) -> np.ndarray:
    """The encoding of genomes that already are features (as float)."""
    return np.asarray(X, dtype=float)


@dataclasses.dataclass(kw_only=True)
class Predictor(ABC):
    """Base class of the accuracy predictors.

    Options: ``seed`` makes fitting deterministic; ``encode`` maps the integer
    genome matrix to features (see :mod:`nsganet.surrogates.features`; default:
    each variable min-max scaled on the training genomes); ``target`` is one of
    :data:`TARGETS`. After :meth:`fit`, ``fit_quality`` holds RMSE, ρ and τ on
    the training data (optimistic: an interpolating model scores τ = 1 there).
    """

    name: ClassVar[str]
    seed: int = 0
    encode: Encoder | None = None
    target: str = "raw"
    fit_quality: dict[str, float] = dataclasses.field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        """Check the options (they may come from a YAML file): numbers must be numbers, the target known."""
        coerce_numeric_options(self, f"predictor {self.name}")
        TargetTransform(self.target)  # raises ConfigError for an unknown target
        self._encoder: Encoder | None = None

    def fit(self, X: np.ndarray, y: np.ndarray) -> Predictor:
        """Fit on integer genomes ``X`` (n, n_var) and their errors ``y`` (n,); returns ``self``."""
        X, y = _check_training_data(X, y)
        self._n_var = X.shape[1]
        self._encoder = self.encode if self.encode is not None else _MinMax(X)
        features = np.asarray(self._encoder(X), dtype=float)
        self._transform = TargetTransform(self.target)
        z = self._transform.fit_transform(y)
        # one distinct genome, no informative feature or a constant target: the mean is the only sensible model
        self._constant: float | None = None
        if features.shape[1] == 0 or len(np.unique(features, axis=0)) < 2 or np.ptp(z) == 0:
            self._constant = float(np.mean(z))
        else:
            with single_threaded():
                self._fit(features, z)
        self.fit_quality = quality(y, self.predict(X))
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Predicted errors of the genomes ``X`` (n, n_var) as a 1-D array of length n."""
        if self._encoder is None:
            raise RuntimeError(f"predictor {self.name} is not fitted yet; call fit first")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self._n_var:
            raise ValueError(f"expected a genome matrix (n, {self._n_var}), got an array of shape {X.shape}")
        if self._constant is not None:
            return np.full(len(X), self._transform.inverse(np.array(self._constant)))
        with single_threaded():
            z = np.asarray(self._predict(np.asarray(self._encoder(X), dtype=float)), dtype=float).ravel()
        return self._transform.inverse(z)

    @abstractmethod
    def _fit(self, features: np.ndarray, z: np.ndarray) -> None:
        """Fit the model on a float feature matrix and the transformed target (at least 2 distinct rows)."""

    @abstractmethod
    def _predict(self, features: np.ndarray) -> np.ndarray:
        """Predictions, in the transformed target's space, for a float feature matrix."""


def _check_training_data(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    X = np.asarray(X)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"expected a numeric genome matrix (n, n_var), got an array of shape {X.shape}")
    if y.ndim != 1 or len(y) != len(X):
        raise ValueError(f"expected one target per genome: {len(X)} genomes, y of shape {y.shape}")
    if len(y) == 0:
        raise ValueError("cannot fit a predictor on no data")
    if not np.all(np.isfinite(y)):
        raise ValueError("the targets contain nan or infinite values")
    return X, y


#: Every predictor class by name; predictors register where they are defined (``@PREDICTORS.register()``).
PREDICTORS: Registry[type[Predictor]] = Registry("predictor", sort=True)


def predictor_names() -> list[str]:
    return PREDICTORS.names()


def get_predictor(name: str | Predictor, seed: int = 0, encode: Encoder | None = None,
                  **options: Any) -> Predictor:
    """A new, unfitted predictor by name (a :class:`Predictor` is returned as is)."""
    if isinstance(name, Predictor):
        return name
    cls = PREDICTORS.get(name)
    known = {f.name for f in dataclasses.fields(cls) if f.init} - {"seed", "encode"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigError(f"predictor {name} has no option {unknown[0]!r}; options: {', '.join(sorted(known))}")
    return cls(seed=seed, encode=encode, **options)
