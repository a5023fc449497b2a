"""Searches that really train: proxy evaluation on the embedded digits, in-process and in worker processes."""

import csv
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

import nsganet
from nsganet.config import SearchConfig
from nsganet.data import load_dataset, split_train_valid
from nsganet.evaluators.base import EvaluatorRequest
from nsganet.evaluators.proxy import ProxyEvaluator, ProxySettings, proxy_evaluator
from nsganet.search.rundir import search_split
from nsganet.spaces import get_space
from nsganet.train.loop import TrainSettings
from nsganet.utils.seeds import derived_seed as architecture_seed

TINY = {"epochs": 1, "train_images": 64, "batch_size": 32, "channels": 4}


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def digits_split():
    train, test = load_dataset("digits")
    return split_train_valid(train, 0.2, seed=0), test


def test_proxy_evaluation_is_deterministic_per_architecture(digits_split):
    (train, valid), _ = digits_split
    space = get_space("micro")
    settings = ProxySettings(train=TrainSettings(epochs=1), batch_size=32, train_images=96,
                             build_options=space.proxy_options(4, 1))
    evaluator = ProxyEvaluator(train, valid, settings, seed=3)
    arch = space.architecture(space.sample(np.random.default_rng(0), 1)[0])
    first, second = evaluator(arch), evaluator(arch)
    assert first == second and 0 <= first["error"] <= 100
    assert architecture_seed(3, str(arch)) == architecture_seed(3, str(arch)) != architecture_seed(4, str(arch))
    assert evaluator.network_shape == {"num_classes": 10, "input_size": 8, "in_channels": 1}


def test_search_never_reads_the_test_split(digits_split, monkeypatch):
    (train, valid), test = digits_split
    assert len(train) + len(valid) + len(test) == 1797
    seen = []
    original = ProxyEvaluator.__init__

    def spy(self, train_set, valid_set, settings, seed=0):
        seen.append((len(train_set), len(valid_set)))
        original(self, train_set, valid_set, settings, seed)

    monkeypatch.setattr(ProxyEvaluator, "__init__", spy)
    config = SearchConfig()  # what a default search trains and validates on
    proxy_evaluator(EvaluatorRequest(config, get_space("micro"), Path(), {}, lambda: search_split(config)))
    assert seen == [(len(train), len(valid))]


@pytest.mark.parametrize("space", ["micro", "macro", "nb201"])
def test_two_generation_search_on_tiny_data(tmp_path, space):
    result = nsganet.search(space, budget=6, pop_size=3, seed=1, out=tmp_path / "run", workers=1,
                            progress=False, **TINY)
    rows = read_rows(tmp_path / "run" / "evaluations.csv")
    assert len(rows) == 6 and {r["generation"] for r in rows} == {"0", "1"}
    assert all(r["status"] == "ok" and 0 <= float(r["error"]) <= 100 and float(r["flops"]) > 0 for r in rows)
    assert result.front and (tmp_path / "run" / "front.png").exists()


def test_diverging_training_is_recorded_and_the_search_goes_on(tmp_path):
    result = nsganet.search("micro", budget=6, pop_size=3, seed=0, out=tmp_path / "run", workers=1, progress=False,
                            plots=False, **{**TINY, "lr": 1e9})
    failed = [e for e in result.evaluations if e.status == "failed"]
    assert len(result.evaluations) == 6 and failed
    assert all("TrainingDiverged" in e.reason or "nan" in e.reason.lower() for e in failed)
    assert len(list((tmp_path / "run" / "failed").iterdir())) == len(failed)


def test_cli_default_search_with_worker_processes(tmp_path):
    """`nsganet search` on the embedded digits, scaled down, with two workers; same seed, same result."""
    outs = []
    for name in ("a", "b"):
        result = run_cli("search", "--budget", "4", "--pop-size", "2", "--epochs", "1", "--train-images", "48",
                         "--channels", "4", "--workers", "2", "--out", str(tmp_path / name), "-q")
        assert result.returncode == 0, result.stderr
        assert "non-dominated front" in result.stdout
        outs.append((tmp_path / name / "evaluations.csv").read_text())
    assert outs[0] == outs[1] and len(outs[0].splitlines()) == 5


def test_cli_trains_on_a_users_numpy_dataset(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(60, 12, 12, 3), dtype=np.uint8)
    y = np.arange(60) % 3
    x[y == 1, :6] = 255  # learnable: class 1 is bright on top, class 2 bright at the bottom
    x[y == 2, 6:] = 255
    np.savez(tmp_path / "mine.npz", x_train=x, y_train=y)
    result = run_cli("search", "--dataset", "numpy", "--data", str(tmp_path / "mine.npz"), "--space", "macro",
                     "--budget", "3", "--pop-size", "3", "--epochs", "1", "--channels", "4", "--workers", "1",
                     "--out", str(tmp_path / "run"), "-q")
    assert result.returncode == 0, result.stderr
    rows = read_rows(tmp_path / "run" / "evaluations.csv")
    assert len(rows) == 3 and all(r["status"] == "ok" for r in rows)


def test_cli_searches_a_users_cifar10_folder(tmp_path):
    from test_data import write_cifar10

    write_cifar10(tmp_path, per_batch=20)  # tmp_path/cifar-10-batches-py/data_batch_1 ...
    result = run_cli("search", "--dataset", "cifar10", "--data", str(tmp_path), "--budget", "2", "--pop-size", "2",
                     "--epochs", "1", "--channels", "4", "--workers", "1", "--out", str(tmp_path / "run"), "-q")
    assert result.returncode == 0, result.stderr
    config = (tmp_path / "run" / "config.yaml").read_text()
    assert "dataset: cifar10" in config
    rows = read_rows(tmp_path / "run" / "evaluations.csv")
    assert len(rows) == 2 and all(r["status"] == "ok" for r in rows)


def test_vld_size_sets_the_validation_images_for_every_evaluator():
    from nsganet.config import SearchConfig
    from nsganet.errors import ConfigError

    train, search_train, search_valid = search_split(SearchConfig(vld_size=100))
    assert abs(len(search_valid) - 100) <= 10  # stratified per class, so rounded per class
    assert len(search_train) + len(search_valid) == len(train)
    with pytest.raises(ConfigError, match="vld_size"):
        search_split(SearchConfig(vld_size=len(train)))
