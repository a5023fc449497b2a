"""Accuracy predictors: shapes, ranking quality on NAS-Bench-201, determinism, adaptive switching, robustness."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from nsganet.errors import ConfigError
from nsganet.spaces import get_space
from nsganet.surrogates import (
    IntegerFeatures,
    OneHotFeatures,
    TargetTransform,
    get_features,
    get_predictor,
    kendall,
    predictor_names,
    quality,
    rmse,
    spearman,
)

MODELS = ("rbf", "gp", "mlp", "cart", "gbt")
ALL = (*MODELS, pytest.param("as", marks=pytest.mark.slow))
SPACE = get_space("nb201")


@pytest.fixture(scope="module")
def nb201(nb201_accuracy: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    """All NAS-Bench-201 genomes and their CIFAR-10 test errors (%)."""
    X = np.array([SPACE.from_string(arch) for arch in nb201_accuracy])
    y = 100.0 - np.array(list(nb201_accuracy.values()))
    return X, y


def split(data: tuple[np.ndarray, np.ndarray], n_train: int, n_test: int, seed: int = 0):
    X, y = data
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:n_train], order[n_train:n_train + n_test]
    return X[train], y[train], X[test], y[test]


def features(kind: str = "onehot"):
    return get_features(kind, SPACE.encoding.lower, SPACE.encoding.upper)


@pytest.mark.parametrize("kind", ["onehot", "integer"])
@pytest.mark.parametrize("name", ALL)
def test_predictors_rank_nb201_architectures_well_above_chance(nb201, name, kind):
    X, y, X_test, y_test = split(nb201, 200, 1000)
    model = get_predictor(name, seed=0, encode=features(kind), target="log")
    assert model.fit(X, y) is model
    predicted = model.predict(X_test)
    assert predicted.shape == (1000,) and np.all(np.isfinite(predicted))
    assert kendall(y_test, predicted) > 0.3
    assert set(model.fit_quality) == {"rmse", "rho", "tau"} and model.fit_quality["tau"] > 0.3


@pytest.mark.parametrize("name", MODELS)
def test_raw_target_and_default_features_work_too(nb201, name):
    X, y, X_test, y_test = split(nb201, 200, 500, seed=1)
    predicted = get_predictor(name, seed=0).fit(X, y).predict(X_test)  # min-max scaled genomes, raw error
    assert predicted.shape == (500,) and kendall(y_test, predicted) > 0.2


@pytest.mark.parametrize("name", (*MODELS, "as"))
def test_same_seed_same_predictions(nb201, name):
    X, y, X_test, _ = split(nb201, 40, 100, seed=2)
    options = {"n_folds": 3} if name == "as" else {}
    first = get_predictor(name, seed=7, encode=features(), **options).fit(X, y).predict(X_test)
    again = get_predictor(name, seed=7, encode=features(), **options).fit(X, y).predict(X_test)
    np.testing.assert_array_equal(first, again)


@pytest.mark.parametrize("name", ["mlp", "cart", "gbt"])
def test_the_seed_matters_for_randomised_models(nb201, name):
    X, y, X_test, _ = split(nb201, 60, 100, seed=3)
    a = get_predictor(name, seed=0, encode=features()).fit(X, y).predict(X_test)
    b = get_predictor(name, seed=1, encode=features()).fit(X, y).predict(X_test)
    assert not np.array_equal(a, b)


def grid(n_var: int, high: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, high + 1, size=(n, n_var))


@pytest.mark.parametrize(("truth", "expected"), [
    # a step function of two variables: trees fit it exactly, an interpolant overshoots between the steps
    (lambda X: 10.0 * (X[:, 0] >= 6) + 5.0 * (X[:, 1] >= 3), "cart"),
    # a smooth function: a cubic RBF with a linear tail interpolates it almost exactly, trees only in steps
    (lambda X: ((X - 4.5) ** 2).sum(axis=1) + 0.3 * X[:, 0] * X[:, 1], "rbf"),
])
def test_adaptive_switching_picks_the_candidate_with_the_best_cv_tau(truth, expected):
    encode = IntegerFeatures(np.zeros(3, dtype=np.int64), np.full(3, 9))
    X, X_test = grid(3, 9, 80, seed=0), grid(3, 9, 200, seed=1)
    y = truth(X)
    model = get_predictor("as", seed=0, encode=encode, candidates=("rbf", "cart"), n_folds=5).fit(X, y)
    assert model.winner == expected
    assert set(model.scores) == {"rbf", "cart"}
    assert model.scores[expected] == max(model.scores.values())
    assert model.scores[expected] > model.scores[({"rbf", "cart"} - {expected}).pop()] + 0.05
    assert set(model.cv_quality) == {"rmse", "rho", "tau"} and model.cv_quality["tau"] > 0.5
    # the winner is refitted on all the data: its predictions are the winner's own
    alone = get_predictor(expected, seed=0, encode=encode).fit(X, y).predict(X_test)
    np.testing.assert_allclose(model.predict(X_test), alone)


def test_adaptive_switching_folds_depend_on_the_seed_only(nb201):
    X, y, _, _ = split(nb201, 30, 0, seed=4)
    a = get_predictor("as", seed=3, encode=features(), candidates=("cart", "gbt"), n_folds=3).fit(X, y)
    b = get_predictor("as", seed=3, encode=features(), candidates=("cart", "gbt"), n_folds=3).fit(X, y)
    assert a.scores == b.scores and a.winner == b.winner and a.cv_quality == b.cv_quality


def test_metrics_match_hand_computed_values():
    truth, pred = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])
    assert rmse(truth, pred) == pytest.approx(math.sqrt(0.5))
    assert kendall(truth, pred) == pytest.approx(2 / 3)  # 5 concordant, 1 discordant of 6 pairs
    assert spearman(truth, pred) == pytest.approx(0.8)  # 1 - 6 * (1 + 1) / (4 * 15)
    assert kendall([1, 1, 2], [1, 2, 3]) == pytest.approx(2 / math.sqrt(6))  # τ-b: one tie in y_true
    assert quality(truth, pred) == pytest.approx({"rmse": math.sqrt(0.5), "rho": 0.8, "tau": 2 / 3})
    assert kendall(truth, -truth) == pytest.approx(-1.0)
    # degenerate input: a constant side carries no ranking information (chance level); one value: undefined
    assert kendall(truth, np.full(4, 2.0)) == 0.0 and spearman(np.ones(4), pred) == 0.0
    assert math.isnan(kendall([1.0], [2.0])) and math.isnan(rmse([], []))
    with pytest.raises(ValueError, match="differ in length"):
        rmse([1, 2], [1, 2, 3])


def test_unknown_names_and_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="unknown predictor 'xgboost'; known predictors: as, cart, gbt, gp, mlp, rbf"):
        get_predictor("xgboost")
    with pytest.raises(ConfigError, match="predictor gp has no option 'layers'"):
        get_predictor("gp", layers=3)
    with pytest.raises(ConfigError, match="n_trees must be an integer"):
        get_predictor("cart", n_trees="many")
    with pytest.raises(ConfigError, match="unknown predictor target 'sqrt'"):
        get_predictor("rbf", target="sqrt")
    with pytest.raises(ConfigError, match="rbf: unknown kernel 'gaussian'"):
        get_predictor("rbf", kernel="gaussian")
    with pytest.raises(ConfigError, match="unknown candidate 'svm'"):
        get_predictor("as", candidates=("rbf", "svm"))
    with pytest.raises(ConfigError, match="unknown predictor features 'binary'; known features: integer, onehot"):
        get_features("binary", [0], [1])
    assert predictor_names() == ["as", "cart", "gbt", "gp", "mlp", "rbf"]
    assert get_predictor("as", candidates="rbf, gp").candidates == ("rbf", "gp")


@pytest.mark.parametrize("name", (*MODELS, "as"))
def test_duplicate_rows_and_tiny_training_sets(nb201, name):
    X, y, X_test, _ = split(nb201, 5, 50, seed=5)
    options = {"n_folds": 3} if name == "as" else {}
    for X_fit, y_fit in [
        (X, y),  # five points (fewer than the 25 one-hot dimensions)
        (np.repeat(X, 3, axis=0), np.repeat(y, 3) + np.tile([-1.0, 0.0, 1.0], 5)),  # conflicting duplicates
        (X[:2], y[:2]),
        (X[:1], y[:1]),
        (X, np.full(5, 8.0)),  # constant target
    ]:
        for target in ("raw",) if name == "as" else ("raw", "log", "rank"):  # as: the same base class
            model = get_predictor(name, seed=0, encode=features(), target=target, **options).fit(X_fit, y_fit)
            predicted = model.predict(X_test)
            assert predicted.shape == (50,) and np.all(np.isfinite(predicted)), (name, len(X_fit), target)
    assert get_predictor(name, seed=0, **options).fit(X[:1], y[:1]).predict(X_test) == pytest.approx(y[0])


def test_rbf_interpolates_and_averages_duplicates(nb201):
    X, y, _, _ = split(nb201, 50, 0, seed=6)
    model = get_predictor("rbf", encode=features()).fit(X, y)  # one-hot: a rank-deficient linear tail
    np.testing.assert_allclose(model.predict(X), y, atol=1e-6)
    doubled = get_predictor("rbf", encode=features()).fit(np.vstack([X, X[:1]]), np.append(y, y[0] + 2.0))
    assert doubled.predict(X[:1])[0] == pytest.approx(y[0] + 1.0)


def test_feature_encodings():
    lower, upper = np.array([0, 0, 3, 1]), np.array([4, 1, 3, 3])
    onehot, integer = OneHotFeatures(lower, upper), IntegerFeatures(lower, upper)
    X = np.array([[0, 0, 3, 1], [4, 1, 3, 3], [2, 1, 3, 2]])
    assert onehot.n_features == 5 + 1 + 3  # five values one-hot, binary as is, constant dropped, three values
    np.testing.assert_array_equal(onehot(X), [[1, 0, 0, 0, 0, 0, 1, 0, 0],
                                              [0, 0, 0, 0, 1, 1, 0, 0, 1],
                                              [0, 0, 1, 0, 0, 1, 0, 1, 0]])
    np.testing.assert_allclose(integer(X), [[0, 0, 0], [1, 1, 1], [0.5, 1, 0.5]])
    with pytest.raises(ValueError, match="outside the feature bounds"):
        onehot(np.array([[5, 0, 3, 1]]))
    with pytest.raises(ValueError, match="4 variables"):
        integer(np.zeros((2, 3), dtype=int))


def test_target_transforms_invert_and_keep_the_order():
    y = np.array([6.0, 9.0, 90.0, 7.5, 9.0])
    for kind in ("raw", "log", "rank"):
        transform = TargetTransform(kind)
        z = transform.fit_transform(y)
        np.testing.assert_allclose(transform.inverse(z), y)
        assert kendall(y, z) == pytest.approx(1.0)
    ranks = TargetTransform("rank")
    ranks.fit_transform(y)
    better = ranks.inverse(np.array([-0.2, -0.1, 0.0, 0.1]))  # better than the best: extrapolated, in order
    assert np.all(np.diff(better) > 0) and better[2] < 6.0
    np.testing.assert_allclose(ranks.inverse(np.array([0.9, 1.0, 1.5])), 90.0)  # worse than the worst: the worst
    logs = TargetTransform("log")
    assert np.isfinite(logs.inverse(logs.fit_transform(y) + 1e6)).all()  # capped, no overflow
    shifted = TargetTransform("log")
    np.testing.assert_allclose(shifted.inverse(shifted.fit_transform(y - 50)), y - 50)  # non-positive values


def test_predict_before_fit_and_bad_input():
    model = get_predictor("gbt")
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict(np.zeros((1, 6), dtype=int))
    with pytest.raises(ValueError, match="one target per genome"):
        model.fit(np.zeros((3, 6), dtype=int), np.zeros(2))
    model.fit(np.zeros((2, 6), dtype=int), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match=r"genome matrix \(n, 6\)"):
        model.predict(np.zeros((2, 5), dtype=int))
    with pytest.raises(ValueError, match="nan"):
        model.fit(np.zeros((2, 6), dtype=int), np.array([1.0, np.nan]))


def test_surrogates_never_import_torch():
    code = ("import sys, numpy as np; from nsganet.surrogates import get_predictor; "
            "X = np.random.default_rng(0).integers(0, 5, (20, 6)); "
            "[get_predictor(n, n_folds=2).fit(X, X.sum(1) + 1.0) if n == 'as' else get_predictor(n).fit(X, X.sum(1))"
            " for n in ('rbf', 'gp', 'mlp', 'cart', 'gbt', 'as')]; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_structure_features_append_the_space_descriptors():
    X = np.array([[0, 0, 0, 1, 0, 0], [4, 4, 4, 4, 4, 4]])
    onehot = features("onehot")(X)
    described = get_features("structure", SPACE.encoding.lower, SPACE.encoding.upper, SPACE.descriptors)(X)
    np.testing.assert_array_equal(described[:, :onehot.shape[1]], onehot)
    np.testing.assert_array_equal(described[:, onehot.shape[1]:], SPACE.descriptors(X))
    # without descriptors (a space that has none) the encoding is the one-hot one
    np.testing.assert_array_equal(features("structure")(X), onehot)


def test_descriptors_lift_the_ranking_from_100_architectures(nb201):
    """The claim nsganetv2's default rests on, on 3 splits: live-path descriptors rank better than one-hot alone."""
    gains = []
    for seed in range(3):
        X, y, X_test, y_test = split(nb201, 100, 3000, seed)
        taus = {}
        for kind in ("onehot", "structure"):
            encode = get_features(kind, SPACE.encoding.lower, SPACE.encoding.upper, SPACE.descriptors)
            model = get_predictor("gbt", seed=seed, encode=encode, target="log").fit(X, y)
            taus[kind] = kendall(y_test, model.predict(X_test))
        gains.append(taus["structure"] - taus["onehot"])
        assert taus["structure"] > 0.68
    assert min(gains) > 0.08
