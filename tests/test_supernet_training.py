"""Supernet training (sandwich rule, in-place distillation), its checkpoints, files and the supernet evaluator."""

import dataclasses

import numpy as np
import pytest
import torch
from conftest import run_cli

from nsganet.data import load_dataset, split_train_valid
from nsganet.errors import NsganetError
from nsganet.evaluators.supernet import SupernetEvalSettings, SupernetEvaluator
from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig
from nsganet.supernet.files import fit_supernet, load_supernet
from nsganet.supernet.settings import SupernetTrainSettings
from nsganet.supernet.training import SUPERNET_FILE
from nsganet.train.checkpoint import CHECKPOINT_FILE, load_checkpoint
from nsganet.train.loop import TrainSettings, distillation_loss

TINY = SupernetConfig.small(16, width_mult=0.25)
SPACE = MobileNetV3Space(TINY)
SETTINGS = SupernetTrainSettings(epochs=2, batch_size=32, n_random=1)


@pytest.fixture(scope="module")
def digits():
    train, _ = load_dataset("digits")
    generator = torch.Generator().manual_seed(0)
    return train.subset(torch.randperm(len(train), generator=generator)[:160])


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_distillation_loss_is_zero_for_identical_predictions_and_positive_otherwise():
    logits = torch.randn(4, 10)
    assert distillation_loss(logits, logits).item() == pytest.approx(0.0, abs=1e-6)
    assert distillation_loss(torch.zeros(4, 10), logits).item() > 0.01


def test_training_writes_a_loadable_supernet_and_lowers_the_loss(tmp_path, digits):
    settings = SupernetTrainSettings(epochs=3, batch_size=32, n_random=1, lr=0.1)
    supernet = fit_supernet(digits, tmp_path, settings, SPACE, seed=0, progress=False)
    history = load_checkpoint(tmp_path / CHECKPOINT_FILE)["history"]
    assert len(history["largest_loss"]) == 3
    assert history["largest_loss"][-1] < history["largest_loss"][0]
    loaded = load_supernet(tmp_path / SUPERNET_FILE)
    assert loaded.num_classes == 10 and loaded.space.config.width_mult == 0.25 and loaded.space.name == "mobilenetv3"
    assert states_equal(loaded.module.state_dict(), supernet.module.state_dict())
    x = torch.randn(2, 1, 8, 8)
    smallest = SPACE.smallest()
    assert torch.allclose(supernet.extract(smallest).eval()(x), loaded.extract(smallest)(x))


def test_killed_training_resumes_to_the_uninterrupted_weights(tmp_path, digits):
    reference = fit_supernet(digits, tmp_path / "reference", SETTINGS, SPACE, seed=3, progress=False)

    class Crash(Exception):
        pass

    import nsganet.supernet.training as training

    original = training._train_epoch
    calls = {"n": 0}

    def crash_in_second_epoch(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise Crash
        return original(*args, **kwargs)

    training._train_epoch = crash_in_second_epoch
    try:
        with pytest.raises(Crash):
            fit_supernet(digits, tmp_path / "killed", SETTINGS, SPACE, seed=3, progress=False)
    finally:
        training._train_epoch = original
    assert load_checkpoint(tmp_path / "killed" / CHECKPOINT_FILE)["epoch"] == 1
    assert not (tmp_path / "killed" / SUPERNET_FILE).exists()
    with pytest.raises(NsganetError, match="--resume"):
        fit_supernet(digits, tmp_path / "killed", SETTINGS, SPACE, seed=3, resume=False, progress=False)
    with pytest.raises(NsganetError, match="started with setting epochs=2, now 3"):
        fit_supernet(digits, tmp_path / "killed", SupernetTrainSettings(epochs=3, batch_size=32, n_random=1),
                     SPACE, seed=3, progress=False)
    resumed = fit_supernet(digits, tmp_path / "killed", SETTINGS, SPACE, seed=3, progress=False)
    assert states_equal(resumed.module.state_dict(), reference.module.state_dict())


def test_fine_tuning_on_new_classes_replaces_the_classifier(tmp_path, digits):
    fit_supernet(digits, tmp_path / "base", SupernetTrainSettings(epochs=1, batch_size=32, n_random=0),
                 SPACE, progress=False)
    three = digits.subset(torch.nonzero(digits.labels < 3).ravel())
    three = dataclasses.replace(three, num_classes=3, class_names=None, name="three-digits")
    tuned = fit_supernet(three, tmp_path / "tuned", SupernetTrainSettings(epochs=1, batch_size=16),
                         SPACE.for_images(32), init=tmp_path / "base" / SUPERNET_FILE, progress=False)
    assert tuned.num_classes == 3 and tuned.space.options == SPACE.options  # the initial supernet's shape
    assert tuned.module(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    loaded = load_supernet(tmp_path / "tuned" / SUPERNET_FILE)
    assert loaded.module.classifier.out_features == 3 and loaded.init == str(tmp_path / "base" / SUPERNET_FILE)


def test_unreadable_or_foreign_supernet_files_are_one_line_errors(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(NsganetError, match="cannot read checkpoint"):
        load_supernet(bad)
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(NsganetError, match="neither an nsganet supernet file nor a published supernet checkpoint"):
        load_supernet(foreign)
    with pytest.raises(NsganetError, match="no such checkpoint"):
        load_supernet(tmp_path / "missing.pt")


def test_supernet_evaluator_inherits_recalibrates_and_can_fine_tune(tmp_path, digits):
    search_train, search_valid = split_train_valid(digits, 0.25, seed=0)
    supernet = fit_supernet(search_train, tmp_path, SupernetTrainSettings(epochs=2, batch_size=32), SPACE,
                            progress=False)
    evaluator = SupernetEvaluator(supernet, search_train, search_valid,
                                  SupernetEvalSettings(calibration_images=64), seed=0)
    space = evaluator.space
    arch = space.architecture(space.sample(np.random.default_rng(0), 1)[0])
    error = evaluator(arch)["error"]
    assert 0.0 <= error <= 100.0
    assert evaluator(arch)["error"] == error  # deterministic
    raw = evaluator.error(evaluator.subnet(arch, calibrate=False))
    assert 0.0 <= raw <= 100.0
    calibrated = evaluator.subnet(arch)
    inherited = evaluator.subnet(arch, calibrate=False)
    changed = [not torch.equal(a, b) for (name, a), (_, b) in
               zip(calibrated.state_dict().items(), inherited.state_dict().items()) if "running_mean" in name]
    assert any(changed)
    tuned = SupernetEvaluator(supernet, search_train, search_valid,
                              SupernetEvalSettings(calibration_images=64, finetune=TrainSettings(epochs=1, lr=0.01)))
    assert 0.0 <= tuned(arch)["error"] <= 100.0


@pytest.mark.slow
def test_cli_trains_a_supernet_and_searches_it(tmp_path):
    out = tmp_path / "supernet"
    trained = run_cli("supernet", "train", "--epochs", "1", "--width-mult", "0.25", "--out", str(out), "-q")
    assert trained.returncode == 0, trained.stderr
    assert (out / SUPERNET_FILE).exists()
    again = run_cli("supernet", "train", "--epochs", "1", "--width-mult", "0.25", "--out", str(out), "-q")
    assert again.returncode == 2 and "--resume" in again.stderr
    search = run_cli("search", "--space", "mobilenetv3", "--strategy", "nsganetv2", "--supernet",
                     str(out / SUPERNET_FILE), "--budget", "14", "--vld-size", "200", "-S", "n_doe=10",
                     "-S", "n_candidates=4", "-S", "predictor=rbf", "--out", str(tmp_path / "run"), "-q")
    assert search.returncode == 0, search.stderr
    assert "non-dominated front" in search.stdout
    lines = (tmp_path / "run" / "evaluations.csv").read_text().splitlines()
    assert len(lines) == 15 and lines[1].split(",")[0].startswith("r")


def test_official_ofa_checkpoints_are_accepted_as_initial_weights(tmp_path):
    from nsganet.nn.mobilenetv3_supernet import MobileNetV3Supernet
    from nsganet.nn.ofa_weights import to_ofa_state_dict
    from nsganet.supernet.files import load_supernet

    torch.manual_seed(0)
    source = MobileNetV3Supernet(SupernetConfig.imagenet(1.2), num_classes=1000)
    torch.save({"state_dict": to_ofa_state_dict(source)}, tmp_path / "ofa_mbv3_d234_e346_k357_w1.2")
    supernet = load_supernet(tmp_path / "ofa_mbv3_d234_e346_k357_w1.2")
    assert supernet.space.config.width_mult == 1.2 and supernet.num_classes == 1000
    assert states_equal(supernet.module.state_dict(), source.state_dict())
    torch.save({"stem.weight": torch.zeros(3)}, tmp_path / "other.pt")
    with pytest.raises(NsganetError, match="neither an nsganet supernet file nor a published supernet checkpoint"):
        load_supernet(tmp_path / "other.pt")
