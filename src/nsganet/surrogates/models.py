"""The accuracy predictors of NSGANetV2: RBF, GP, MLP, CART, GBT and adaptive switching between them.

Each is a small class over a scipy or scikit-learn model; scikit-learn is
imported when a model is fitted, so that importing this package (strategies
do) stays cheap.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import warnings
from collections.abc import Iterator

import numpy as np

from nsganet.errors import ConfigError
from nsganet.surrogates.base import PREDICTORS, Predictor, get_predictor, identity, predictor_names
from nsganet.surrogates.metrics import kendall, quality

logger = logging.getLogger(__name__)


@contextlib.contextmanager
def _quiet_convergence() -> Iterator[None]:
    """Silence scikit-learn's convergence warnings: fitted on little data, a model often stops at an optimiser
    bound or the iteration limit, and its fit is still the best found."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


def average_duplicates(features: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unique feature rows and the mean target of each (an interpolant cannot pass through two values)."""
    unique, inverse = np.unique(features, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    return unique, np.bincount(inverse, weights=z) / np.bincount(inverse)


@PREDICTORS.register()
@dataclasses.dataclass(kw_only=True)
class RBF(Predictor):
    """Radial basis function interpolation (scipy), by default cubic with a linear tail as pySOT's in NSGANetV2.

    Robustness: duplicate feature rows are averaged; features are expressed in
    coordinates of the training points' affine hull (an isometry there, so
    one-hot features, whose groups each sum to one, keep a well-posed linear
    tail); if the system is still singular, a growing ``smoothing`` is tried,
    and as a last resort the mean is predicted.
    """

    name = "rbf"
    kernel: str = "cubic"
    degree: int = 1
    smoothing: float = 0.0

    #: scipy's kernels that need no shape parameter (an ``epsilon`` would depend on the feature scale)
    KERNELS = ("linear", "thin_plate_spline", "cubic", "quintic")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernel not in self.KERNELS:
            raise ConfigError(f"predictor rbf: unknown kernel {self.kernel!r}; "
                              f"known kernels: {', '.join(self.KERNELS)}")

    def _fit(self, features: np.ndarray, z: np.ndarray) -> None:
        from scipy.interpolate import RBFInterpolator

        features, z = average_duplicates(features, z)
        self._center = features.mean(axis=0)
        _, singular, vt = np.linalg.svd(features - self._center, full_matrices=False)
        rank = int(np.sum(singular > singular[0] * max(features.shape) * np.finfo(float).eps))
        self._basis = vt[:rank].T
        self._mean = float(z.mean())
        points = (features - self._center) @ self._basis
        self._model = None
        for smoothing in (self.smoothing, 1e-10, 1e-8, 1e-6, 1e-4, 1e-2, 1.0):
            if smoothing < self.smoothing:
                continue
            try:
                self._model = RBFInterpolator(points, z, kernel=self.kernel, degree=self.degree, smoothing=smoothing)
                return
            except (np.linalg.LinAlgError, ValueError) as err:
                logger.debug("rbf: solve failed with smoothing %g (%s)", smoothing, err)
        logger.warning("rbf: the interpolation system stayed singular; predicting the mean")

    def _predict(self, features: np.ndarray) -> np.ndarray:
        if self._model is None:
            return np.full(len(features), self._mean)
        return self._model((features - self._center) @ self._basis)


@PREDICTORS.register()
@dataclasses.dataclass(kw_only=True)
class GP(Predictor):
    """Gaussian process regression (scikit-learn): constant × Matérn-5/2 (or RBF) + white noise kernel.

    ``normalize_y`` standardises the target; the kernel's hyper-parameters are
    fitted by maximum likelihood from ``restarts`` extra seeded starting points.
    ``ard`` gives every feature its own length scale (slower, more flexible).
    """

    name = "gp"
    kernel: str = "matern"
    restarts: int = 2
    ard: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.kernel not in ("matern", "rbf"):
            raise ConfigError(f"predictor gp: unknown kernel {self.kernel!r}; known kernels: matern, rbf")

    def _fit(self, features: np.ndarray, z: np.ndarray) -> None:
        from sklearn.gaussian_process import GaussianProcessRegressor, kernels

        scale = np.ones(features.shape[1]) if self.ard else 1.0
        if self.kernel == "matern":
            shape = kernels.Matern(scale, length_scale_bounds=(1e-2, 1e3), nu=2.5)
        else:
            shape = kernels.RBF(scale, length_scale_bounds=(1e-2, 1e3))
        kernel = (kernels.ConstantKernel(1.0, (1e-3, 1e3)) * shape
                  + kernels.WhiteKernel(1e-2, noise_level_bounds=(1e-8, 1e1)))
        self._model = GaussianProcessRegressor(kernel, normalize_y=True, n_restarts_optimizer=self.restarts,
                                               random_state=self.seed)
        with _quiet_convergence():
            self._model.fit(features, z)

    def _predict(self, features: np.ndarray) -> np.ndarray:
        return self._model.predict(features)


@PREDICTORS.register()
@dataclasses.dataclass(kw_only=True)
class MLP(Predictor):
    """A small multi-layer perceptron (scikit-learn) on the standardised target.

    ``layers`` hidden layers of ``hidden`` ReLU units with L2 penalty
    ``alpha``, trained to convergence by L-BFGS: full-batch and without early
    stopping, which suits the few hundred points a search has.
    """

    name = "mlp"
    hidden: int = 64
    layers: int = 2
    alpha: float = 1e-2
    max_iter: int = 1000

    def _fit(self, features: np.ndarray, z: np.ndarray) -> None:
        from sklearn.neural_network import MLPRegressor

        self._mean, self._std = float(z.mean()), float(z.std())
        self._model = MLPRegressor(hidden_layer_sizes=(self.hidden,) * self.layers, solver="lbfgs", alpha=self.alpha,
                                   max_iter=self.max_iter, random_state=self.seed)
        with _quiet_convergence():
            self._model.fit(features, (z - self._mean) / self._std)

    def _predict(self, features: np.ndarray) -> np.ndarray:
        return self._model.predict(features) * self._std + self._mean


@PREDICTORS.register()
@dataclasses.dataclass(kw_only=True)
class CART(Predictor):
    """Regression trees (scikit-learn): a bag of ``n_trees`` fully grown CART trees on bootstrap samples.

    NSGANetV2's "carts" predictor was such a bag, not a single tree; its
    average is far smoother than one tree's steps. Fitted as scikit-learn's
    random forest with every feature considered at every split, which is
    exactly bagging of ``DecisionTreeRegressor`` and faster than
    ``BaggingRegressor``. ``n_trees=1`` fits one tree on all the data.
    """

    name = "cart"
    n_trees: int = 100

    def _fit(self, features: np.ndarray, z: np.ndarray) -> None:
        from sklearn.ensemble import RandomForestRegressor
        from sklearn.tree import DecisionTreeRegressor

        if self.n_trees <= 1:
            self._model = DecisionTreeRegressor(random_state=self.seed)
        else:
            self._model = RandomForestRegressor(self.n_trees, max_features=1.0, bootstrap=True, random_state=self.seed)
        self._model.fit(features, z)

    def _predict(self, features: np.ndarray) -> np.ndarray:
        return self._model.predict(features)


@PREDICTORS.register()
@dataclasses.dataclass(kw_only=True)
class GBT(Predictor):
    """Gradient-boosted regression trees (scikit-learn's ``GradientBoostingRegressor``, stochastic, seeded).

    Shallow trees, a small learning rate and row subsampling: the exact
    (not histogram) variant, which does not need thousands of points.
    """

    name = "gbt"
    n_trees: int = 300
    learning_rate: float = 0.05
    max_depth: int = 3
    subsample: float = 0.8

    def _fit(self, features: np.ndarray, z: np.ndarray) -> None:
        from sklearn.ensemble import GradientBoostingRegressor

        self._model = GradientBoostingRegressor(n_estimators=self.n_trees, learning_rate=self.learning_rate,
                                                max_depth=self.max_depth, subsample=self.subsample,
                                                random_state=self.seed).fit(features, z)

    def _predict(self, features: np.ndarray) -> np.ndarray:
        return self._model.predict(features)


@PREDICTORS.register()
@dataclasses.dataclass(kw_only=True)
class AdaptiveSwitching(Predictor):
    """NSGANetV2's adaptive switching: pick, at every fit, the candidate with the best cross-validated τ.

    Each :meth:`fit` runs ``n_folds``-fold cross-validation (folds drawn from
    ``seed``; at most one fold per point) of every candidate and scores it by
    the mean Kendall τ on the held-out folds (folds of one point, whose τ is
    undefined, are skipped; if no fold has two points, the τ of all out-of-fold
    predictions together is used). The best candidate, the first listed among
    equals, becomes ``winner`` and is refitted on all the data.

    After fitting: ``scores`` maps each candidate to its CV τ, ``cv_quality``
    holds RMSE, ρ and τ of the winner's out-of-fold predictions. Both stay
    empty, and ``winner`` None, when the data are degenerate (one distinct
    genome or a constant target) and the mean is predicted.
    """

    name = "as"
    candidates: tuple[str, ...] = ("rbf", "gp", "mlp", "cart", "gbt")
    n_folds: int = 5
    winner: str | None = dataclasses.field(init=False, default=None, compare=False)
    scores: dict[str, float] = dataclasses.field(init=False, default_factory=dict, repr=False, compare=False)
    cv_quality: dict[str, float] = dataclasses.field(init=False, default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.candidates, str):
            self.candidates = tuple(c.strip() for c in self.candidates.split(","))
        self.candidates = tuple(self.candidates)
        known = [n for n in predictor_names() if n != self.name]
        unknown = [c for c in self.candidates if c not in known]
        if unknown or not self.candidates:
            raise ConfigError(f"predictor as: unknown candidate {unknown[0] if unknown else '(none)'!r}; "
                              f"known candidates: {', '.join(known)}")
        if self.n_folds < 2:
            raise ConfigError(f"predictor as option n_folds must be at least 2, got {self.n_folds}")

    def _candidate(self, name: str) -> Predictor:
        # features and target are already encoded and transformed by this predictor
        return get_predictor(name, seed=self.seed, encode=identity)

    def _fit(self, features: np.ndarray, z: np.ndarray) -> None:
        n = len(z)
        k = min(self.n_folds, n)
        folds = np.random.default_rng(self.seed).permutation(n) % k
        out_of_fold = {c: np.zeros(n) for c in self.candidates}
        taus: dict[str, list[float]] = {c: [] for c in self.candidates}
        for fold in range(k):
            train, test = folds != fold, folds == fold
            for name in self.candidates:
                predicted = self._candidate(name).fit(features[train], z[train]).predict(features[test])
                out_of_fold[name][test] = predicted
                if test.sum() >= 2:
                    taus[name].append(kendall(z[test], predicted))
        y = self._transform.inverse(z)
        self.scores = {}
        for name in self.candidates:
            valid = [t for t in taus[name] if np.isfinite(t)]
            self.scores[name] = float(np.mean(valid)) if valid else kendall(z, out_of_fold[name])
        # max keeps the first of equals; a nan score (too little data) counts as the worst
        self.winner = max(self.candidates, key=lambda c: self.scores[c] if np.isfinite(self.scores[c]) else -np.inf)
        self.cv_quality = quality(y, self._transform.inverse(out_of_fold[self.winner]))
        logger.debug("adaptive switching: CV τ %s; winner %s",
                     ", ".join(f"{c} {t:.3f}" for c, t in self.scores.items()), self.winner)
        self._model = self._candidate(self.winner).fit(features, z)

    def _predict(self, features: np.ndarray) -> np.ndarray:
        return self._model.predict(features)

