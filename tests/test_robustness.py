"""Robustness: common corruptions, FGSM and its normalised area, ``nsganet evaluate``, the robustness objective."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from conftest import run_cli
from torch import nn

import nsganet
from nsganet.cli import main
from nsganet.data import BatchLoader, channel_stats, load_dataset, split_train_valid
from nsganet.deploy.netfile import NetSpec, write_net
from nsganet.errors import ConfigError, NsganetError
from nsganet.evaluators import proxy as proxy_module
from nsganet.evaluators.proxy import ProxyEvaluator, ProxySettings
from nsganet.robustness import (
    CORRUPTIONS,
    DEFAULT_EPS,
    RGB_ONLY,
    corrupt,
    corruption_names,
    evaluate_network,
    fgsm_accuracy,
    fgsm_attack,
    fgsm_robustness,
    objective_eps,
    robustness_area,
)
from nsganet.spaces import get_space
from nsganet.train.loop import TrainSettings, accuracy, train

RANDOM = {"gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise", "motion_blur", "fog"}


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits")


@pytest.fixture(scope="module")
def grey(digits):
    """64 real 8x8 digits in [0, 1]."""
    return digits[1].images[:64].to(torch.float32) / 255


@pytest.fixture(scope="module")
def rgb(digits):
    """32 moderately coloured 16x16 images mixed from digits (a different blend per channel)."""
    a = digits[0].images[:32, 0].to(torch.float32) / 255
    b = digits[0].images[100:132, 0].to(torch.float32) / 255
    images = torch.stack([0.7 * a + 0.3 * b, 0.8 * a + 0.2 * b.flip(-1), 0.75 * a + 0.25 * b.flip(-2)], dim=1)
    return nn.functional.interpolate(images, size=(16, 16), mode="bilinear", align_corners=False).clamp(0, 1)


@pytest.fixture(scope="module")
def trained(digits, tmp_path_factory, one_thread):
    """A micro network trained one epoch on the digits, exported with weights: (folder, spec, model)."""
    train_set = digits[0]
    mean, std = channel_stats(train_set)
    space = get_space("micro")
    spec = NetSpec(space="micro", arch=space.to_string(space.sample(np.random.default_rng(1), 1)[0]),
                   num_classes=10, input_size=8, in_channels=1, mean=mean, std=std,
                   build_options={"channels": 8, "layers": 1},
                   dataset={"name": "digits", "data": None, "image_size": None})
    torch.manual_seed(0)
    model = spec.build()
    train(model, BatchLoader(train_set, 32, mean, std, shuffle=True, seed=0, drop_last=True),
          TrainSettings(epochs=1, lr=0.05))
    model.eval()
    folder = write_net(tmp_path_factory.mktemp("net") / "net", spec, model, weights=True)
    return folder, spec, model


# ------------------------------------------------------------------------------------------------ corruptions
def _saturation(x):
    value, low = x.amax(dim=1), x.amin(dim=1)
    return torch.where(value > 0, (value - low) / value.clamp_min(1e-12), torch.zeros_like(value))


def _edges(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean() + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()


def _std(x):
    return x.std(dim=(2, 3)).mean()


# How much a corruption changed clean images x into y: larger is more corrupted.
MEASURES = {
    "gaussian_blur": lambda x, y: float(_edges(x) - _edges(y)),  # lost edge strength
    "defocus_blur": lambda x, y: float(_edges(x) - _edges(y)),
    "motion_blur": lambda x, y: float(_edges(x) - _edges(y)),
    "contrast": lambda x, y: float(_std(x) - _std(y)),  # lost contrast
    "brightness": lambda x, y: float((y - x).mean()),  # gained brightness
    "saturate": lambda x, y: float((_saturation(y) - _saturation(x)).abs().mean()),
}


def _change(name, x, y):
    return MEASURES.get(name, lambda a, b: float((a - b).abs().mean()))(x, y)


@pytest.mark.parametrize("name", list(CORRUPTIONS))
@pytest.mark.parametrize("colour", [False, True])
def test_corruption_keeps_shape_dtype_range_and_grows_with_severity(name, colour, grey, rgb):
    x = rgb if colour else grey
    if name in RGB_ONLY and not colour:
        with pytest.raises(NsganetError, match="3 channels"):
            corrupt(x, name, 1)
        return
    outputs = {s: corrupt(x, name, s, seed=3) for s in (1, 5)}
    for y in outputs.values():
        assert y.shape == x.shape and y.dtype == x.dtype
        assert float(y.min()) >= 0 and float(y.max()) <= 1
        assert not torch.equal(y, x)
    mild, strong = _change(name, x, outputs[1]), _change(name, x, outputs[5])
    assert 0 < mild < strong, (name, mild, strong)
    assert torch.equal(corrupt(x, name, 5, seed=3), outputs[5])  # same seed, same result
    if name in RANDOM:
        assert not torch.equal(corrupt(x, name, 5, seed=4), outputs[5])


def test_corruption_keeps_float64_and_takes_a_generator(grey):
    x = grey.to(torch.float64)
    y = corrupt(x, "gaussian_noise", 2, generator=torch.Generator().manual_seed(7))
    assert y.dtype == torch.float64
    torch.testing.assert_close(y, corrupt(x, "gaussian_noise", 2, seed=7))
    # severity parameters follow CIFAR-10-C: noise of standard deviation 0.06 at severity 2 (before clamping)
    middle = (x > 0.3) & (x < 0.7)
    assert 0.05 < float((y - x)[middle].std()) < 0.07


def test_contrast_and_brightness_by_hand():
    x = torch.tensor([0.2, 0.4, 0.6, 0.8]).view(1, 1, 2, 2)
    torch.testing.assert_close(corrupt(x, "contrast", 2), 0.5 + (x - 0.5) * 0.5)
    torch.testing.assert_close(corrupt(x, "brightness", 5), (x + 0.3).clamp(max=1))
    colour = torch.tensor([0.5, 0.25, 0.0]).view(1, 3, 1, 1)  # value 0.5: raised to 0.8, hue and saturation kept
    torch.testing.assert_close(corrupt(colour, "brightness", 5), colour * 0.8 / 0.5)


def test_corruption_inputs_and_names_are_checked(grey):
    with pytest.raises(NsganetError, match="unknown corruption 'snow'"):
        corrupt(grey, "snow", 1)
    for severity in (0, 6, 2.5, True):
        with pytest.raises(NsganetError, match="severity must be an integer from 1 to 5"):
            corrupt(grey, "contrast", severity)
    with pytest.raises(NsganetError, match="float tensor"):
        corrupt((grey * 255).to(torch.uint8), "contrast", 1)
    with pytest.raises(NsganetError, match=r"images in \[0, 1\]"):
        corrupt(grey * 255, "contrast", 1)
    assert "saturate" not in corruption_names(1, "all") and "saturate" in corruption_names(3, "all")
    assert corruption_names(1, "none") == [] and corruption_names(1, None) == []
    assert corruption_names(1, "fog, contrast,fog") == ["fog", "contrast"]
    with pytest.raises(NsganetError, match="needs colour"):
        corruption_names(1, "saturate")


# ------------------------------------------------------------------------------------------------------- FGSM
def test_fgsm_perturbation_is_eps_in_max_norm(trained, digits):
    _, spec, model = trained
    x = digits[1].images[:50].to(torch.float32) / 255
    y = digits[1].labels[:50]
    raw = fgsm_attack(model, x, y, 0.03, spec.mean, spec.std, clamp=False)
    delta = raw - x
    assert abs(float(delta.abs().max()) - 0.03) < 1e-6
    moved = delta.abs() > 1e-6
    assert float(moved.float().mean()) > 0.5 and torch.allclose(delta[moved].abs(), torch.full_like(delta[moved], 0.03))
    clamped = fgsm_attack(model, x, y, 0.03, spec.mean, spec.std)
    assert float(clamped.min()) >= 0 and float(clamped.max()) <= 1 and float((clamped - x).abs().max()) <= 0.03 + 1e-6
    assert not torch.equal(clamped, raw)  # digits have many 0 pixels pushed below 0


def test_fgsm_accuracy_starts_at_clean_accuracy_and_falls(trained, digits):
    _, spec, model = trained
    test = digits[1]
    clean = accuracy(model, BatchLoader(test, 100, spec.mean, spec.std, shuffle=False))
    accuracies = fgsm_accuracy(model, test.images, test.labels, DEFAULT_EPS, spec.mean, spec.std, batch_size=100)
    assert clean > 80
    assert accuracies[0] == pytest.approx(clean)
    assert accuracies[-1] < clean - 20
    assert accuracies == sorted(accuracies, reverse=True)  # stronger attacks never help on this net
    floats = test.images.to(torch.float32) / 255  # uint8 and [0, 1] inputs are the same images
    assert fgsm_accuracy(model, floats, test.labels, [0.05], spec.mean, spec.std, batch_size=64) == \
        [accuracies[DEFAULT_EPS.index(0.05)]]


def test_fgsm_matches_a_hand_written_attack_on_a_linear_model():
    torch.manual_seed(0)
    linear = nn.Linear(4, 3)
    model = nn.Sequential(nn.Flatten(), linear).eval()
    mean, std = [0.5], [0.25]
    x = torch.rand(20, 1, 2, 2)
    labels = torch.randint(0, 3, (20,))
    eps = 0.1
    # d CE / d x = ((softmax(W z + b) - onehot(y)) W) / std, with z = (x - mean) / std
    with torch.no_grad():
        z = ((x - 0.5) / 0.25).flatten(1)
        p = torch.softmax(z @ linear.weight.T + linear.bias, dim=1)
        grad = ((p - nn.functional.one_hot(labels, 3).float()) @ linear.weight / 0.25).view_as(x)
        expected = (x + eps * grad.sign()).clamp(0, 1)
        logits = ((expected - 0.5) / 0.25).flatten(1) @ linear.weight.T + linear.bias
        expected_accuracy = 100.0 * float((logits.argmax(1) == labels).float().mean())
    torch.testing.assert_close(fgsm_attack(model, x, labels, eps, mean, std), expected)
    assert fgsm_accuracy(model, x, labels, [eps], mean, std, batch_size=7) == [pytest.approx(expected_accuracy)]


def test_robustness_area_on_hand_computed_curves():
    assert robustness_area([0, 0.1], [100, 0]) == pytest.approx(50)
    assert robustness_area([0, 0.1], [100, 100], chance=10) == pytest.approx(100)
    assert robustness_area([0, 0.1], [10, 5], chance=10) == 0
    # (80 + 40) / 2 * 0.05 + (40 + 0) / 2 * 0.05 = 4 of the 0.1 x 90 rectangle
    assert robustness_area([0, 0.05, 0.1], [90, 50, 10], chance=10) == pytest.approx(400 / 9)
    assert robustness_area([0.1, 0, 0.05], [10, 90, 50], chance=10) == pytest.approx(400 / 9)  # order-free
    # crossing chance at 2/3: triangle 0.5 * 2/3 * 40 of the 1 x 80 rectangle
    assert robustness_area([0, 1], [60, 0], chance=20) == pytest.approx(100 * (40 / 3) / 80)
    for eps, acc in (([0, 0], [50, 40]), ([0], [50]), ([0, 0.1], [50]), ([0, -0.1], [50, 40]), ([0, 0.1], [50, 101])):
        with pytest.raises(NsganetError):
            robustness_area(eps, acc)


def test_objective_eps_defaults_to_the_supplement_and_is_only_for_robustness():
    assert DEFAULT_EPS == (0.0, 0.01, 0.03, 0.05, 0.07, 0.1, 0.15)
    assert objective_eps(["error", "flops"], None) is None
    assert objective_eps(["error", "robustness"], None) == DEFAULT_EPS
    assert objective_eps(["error", "robustness"], [0.05, 0, 0.05, 0.02]) == (0.0, 0.02, 0.05)
    with pytest.raises(ConfigError, match="add robustness"):
        objective_eps(["error", "flops"], [0, 0.1])
    with pytest.raises(ConfigError, match="two distinct"):
        objective_eps(["error", "robustness"], [0.1, 0.1])


# ---------------------------------------------------------------------------------------------- evaluation
def test_evaluation_report_is_consistent_and_independent_of_batch_size(trained, digits):
    _, spec, model = trained
    test = digits[1].subset(torch.arange(120))
    kwargs = {"corruptions": "gaussian_noise,pixelate", "severities": [1, 5], "eps": [0, 0.05, 0.1], "seed": 2}
    report = evaluate_network(model, test, spec.mean, spec.std, batch_size=32, **kwargs)
    again = evaluate_network(model, test, spec.mean, spec.std, batch_size=120, **kwargs)
    assert report.to_dict() | {"seconds": 0} == again.to_dict() | {"seconds": 0}
    assert list(report.corruptions) == ["gaussian_noise", "pixelate"] and list(report.corruptions["pixelate"]) == [1, 5]
    assert report.fgsm_accuracy[0] == report.clean_accuracy
    values = [a for by in report.corruptions.values() for a in by.values()]
    assert report.mean_corruption_accuracy == pytest.approx(np.mean(values))
    assert report.robustness_area == pytest.approx(robustness_area([0, 0.05, 0.1], report.fgsm_accuracy, 10))
    data = json.loads(json.dumps(report.to_dict()))
    assert data["corruptions"]["pixelate"]["5"] == report.corruptions["pixelate"][5]
    assert data["fgsm"]["chance"] == 10
    other_seed = evaluate_network(model, test, spec.mean, spec.std, corruptions="gaussian_noise", severities=[5],
                                  eps=[], seed=3)
    assert other_seed.fgsm_eps == [] and other_seed.robustness_area is None
    with pytest.raises(NsganetError, match="severity"):
        evaluate_network(model, test, spec.mean, spec.std, severities=[0])


def _read_evaluation(folder):
    return json.loads((folder / "evaluation.json").read_text())


@pytest.mark.slow
def test_cli_evaluates_an_exported_trained_network(trained, tmp_path):
    folder, _, _ = trained
    out = tmp_path / "eval"
    done = run_cli("evaluate", str(folder), "--images", "100", "--out", str(out), "--onnx", timeout=120)
    assert done.returncode == 0, done.stderr
    result = _read_evaluation(out)
    assert result["data"]["name"] == "digits" and result["images"] == 100 and result["weights"].endswith("net.pt")
    assert set(result["corruptions"]) == set(CORRUPTIONS) - RGB_ONLY
    assert result["clean_accuracy"] > 80 and result["fgsm"]["eps"] == list(DEFAULT_EPS)
    assert result["fgsm"]["accuracy"][0] == result["clean_accuracy"] > result["fgsm"]["accuracy"][-1]
    assert 0 < result["fgsm"]["robustness_area"] < 100
    assert result["onnx"]["clean_accuracy"] == pytest.approx(result["clean_accuracy"])
    assert result["onnx"]["agreement_with_torch"] == 100
    assert (out / "corruptions.png").stat().st_size > 10_000 and (out / "fgsm.png").stat().st_size > 10_000
    lines = done.stdout.splitlines()
    assert any(line.startswith("clean accuracy") for line in lines)
    assert any(line.startswith("gaussian_noise") for line in lines) and any("robustness area" in x for x in lines)


def test_cli_default_output_folder_and_options(trained, capsys):
    folder, _, _ = trained
    code = main(["evaluate", str(folder / "net.json"), "--images", "60", "--corruptions", "contrast",
                 "--severities", "5,1", "--eps", "none", "--batch-size", "16"])
    assert code == 0
    result = _read_evaluation(folder / "eval")
    assert list(result["corruptions"]) == ["contrast"] and list(result["corruptions"]["contrast"]) == ["1", "5"]
    assert result["fgsm"]["eps"] == [] and not (folder / "eval" / "fgsm.png").exists()
    assert result["corruptions"]["contrast"]["5"] < result["clean_accuracy"]
    assert "contrast" in capsys.readouterr().out


def test_cli_bad_input_is_one_line_with_exit_code_2(trained, tmp_path, capsys):
    folder, _, _ = trained
    cases = [
        (["--corruptions", "snow"], "unknown corruption 'snow'"),
        (["--corruptions", "saturate"], "needs colour"),
        (["--severities", "0"], "must be from 1 to 5"),
        (["--severities", "1,6"], "must be from 1 to 5"),
        (["--eps", "0,-0.1"], "non-negative"),
        (["--weights", str(tmp_path / "missing.pt")], "does not exist"),
        (["--dataset", "numpy", "--data", str(tmp_path / "train_only.npz")], "has no test split"),
        (["--image-size", "16"], "takes 8x8 images"),
    ]
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "train_only.npz", x_train=rng.integers(0, 256, (30, 8, 8), dtype=np.uint8),
             y_train=np.arange(30) % 10)
    for extra, message in cases:
        try:
            code = main(["evaluate", str(folder), "--out", str(tmp_path / "out"), *extra])
        except SystemExit as exc:  # argparse rejects the value
            code = exc.code
        err = capsys.readouterr().err
        assert code == 2, extra
        assert message in err and len(err.strip().splitlines()) == 1, (extra, err)
    done = run_cli("evaluate", str(tmp_path / "no-such-net"))
    assert done.returncode == 2 and "does not exist" in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ------------------------------------------------------------------------------------- the search objective
def test_proxy_evaluator_computes_robustness_only_when_asked(digits, monkeypatch, one_thread):
    train_set, valid = split_train_valid(digits[0], 0.2, seed=0)
    space = get_space("micro")
    arch = space.architecture(space.sample(np.random.default_rng(0), 1)[0])
    base = {"train": TrainSettings(epochs=1), "batch_size": 16, "train_images": 96,
            "build_options": space.proxy_options(4, 1)}
    plain = ProxyEvaluator(train_set, valid, ProxySettings(**base), seed=0)
    robust = ProxyEvaluator(train_set, valid, ProxySettings(**base, fgsm_eps=(0.0, 0.05, 0.1)), seed=0)
    assert plain.provides == {"error"} and robust.provides == {"error", "robustness"}
    values = robust(arch)
    assert 0 <= values["robustness"] <= 100 and values["error"] == plain(arch)["error"]

    def refuse(*args, **kwargs):
        raise AssertionError("FGSM ran although robustness was not asked for")

    monkeypatch.setattr(proxy_module, "fgsm_robustness", refuse)
    assert set(plain(arch)) == {"error"}


@pytest.mark.slow
def test_supernet_evaluator_robustness_is_the_fgsm_area_of_the_subnet(digits, tmp_path, one_thread):
    from nsganet.evaluators.supernet import SupernetEvalSettings, SupernetEvaluator
    from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig
    from nsganet.supernet.files import fit_supernet
    from nsganet.supernet.settings import SupernetTrainSettings

    subset = digits[0].subset(torch.arange(160))
    search_train, search_valid = split_train_valid(subset, 0.25, seed=0)
    supernet = fit_supernet(search_train, tmp_path, SupernetTrainSettings(epochs=1, batch_size=32),
                            MobileNetV3Space(SupernetConfig.small(16, width_mult=0.25)), progress=False)
    eps = (0.0, 0.02, 0.05)
    evaluator = SupernetEvaluator(supernet, search_train, search_valid,
                                  SupernetEvalSettings(calibration_images=64, fgsm_eps=eps), seed=0)
    assert evaluator.provides == {"error", "robustness"}
    arch = evaluator.space.architecture(evaluator.space.sample(np.random.default_rng(0), 1)[0])
    values = evaluator(arch)
    expected = 100 - fgsm_robustness(evaluator.subnet(arch), search_valid.images, search_valid.labels, 10, eps,
                                     supernet.mean, supernet.std)
    assert values["robustness"] == pytest.approx(expected) and 0 <= values["robustness"] <= 100


@pytest.mark.slow
def test_search_with_error_flops_and_robustness(tmp_path):
    result = nsganet.search("micro", objectives="error,flops,robustness", budget=4, pop_size=4, seed=0,
                            out=tmp_path / "run", workers=1, progress=False, plots=False, epochs=1,
                            train_images=128, batch_size=4, lr=0.02, channels=8)
    assert len(result.evaluations) == 4 and all(e.status == "ok" for e in result.evaluations)
    robustness = [e.objectives["robustness"] for e in result.evaluations]
    assert all(0 <= r <= 100 for r in robustness) and len(set(robustness)) > 1
    assert min(e.objectives["error"] for e in result.evaluations) < 85  # something was learnt
    with (tmp_path / "run" / "evaluations.csv").open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert {"error", "flops", "robustness"} <= set(rows[0])


def test_search_cli_refuses_fgsm_eps_without_the_robustness_objective(tmp_path, capsys):
    code = main(["search", "--budget", "2", "--fgsm-eps", "0,0.1", "--out", str(tmp_path / "run")])
    assert code == 2 and "add robustness to --objectives" in capsys.readouterr().err
