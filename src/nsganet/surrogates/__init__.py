"""Accuracy predictors (surrogates) for surrogate-assisted search, and the registry that maps names to them.

Numpy, scipy and scikit-learn only: no torch here (strategies import this package).

    >>> from nsganet.surrogates import get_features, get_predictor
    >>> encode = get_features("onehot", space.encoding.lower, space.encoding.upper)  # doctest: +SKIP
    >>> model = get_predictor("as", seed=0, encode=encode).fit(X, errors)  # doctest: +SKIP
    >>> model.winner, model.scores, model.cv_quality  # doctest: +SKIP
"""

from __future__ import annotations

from nsganet.surrogates.base import (
    PREDICTORS,
    TARGETS,
    Predictor,
    TargetTransform,
    get_predictor,
    identity,
    predictor_names,
)
from nsganet.surrogates.features import (
    FEATURES,
    Encoder,
    IntegerFeatures,
    OneHotFeatures,
    StructureFeatures,
    feature_names,
    get_features,
)
from nsganet.surrogates.metrics import kendall, quality, rmse, spearman
from nsganet.surrogates.models import CART, GBT, GP, MLP, RBF, AdaptiveSwitching

__all__ = ["CART", "FEATURES", "GBT", "GP", "MLP", "PREDICTORS", "RBF", "TARGETS", "AdaptiveSwitching", "Encoder",
           "IntegerFeatures", "OneHotFeatures", "Predictor", "StructureFeatures", "TargetTransform", "feature_names",
           "get_features", "get_predictor", "identity", "kendall", "predictor_names", "quality", "rmse", "spearman"]
