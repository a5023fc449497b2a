"""Re-training and fine-tuning: the recipe loop (nsganet.train.recipe.fit), `nsganet train NET`, the ResNet baseline."""

from __future__ import annotations

import copy
import csv
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import run_cli

from nsganet.cli import main
from nsganet.data import load_dataset
from nsganet.deploy.netfile import NetSpec, load_net, read_spec, write_net
from nsganet.deploy.retrain import train_net
from nsganet.errors import NsganetError
from nsganet.nn.resnet import ResNet
from nsganet.train.checkpoint import CHECKPOINT_FILE, load_checkpoint
from nsganet.train.ema import ModelEMA
from nsganet.train.recipe import RetrainSettings, fit

#: a fixed DARTS-like cell pair (separable convolutions, skips, pooling)
ARCH = ("normal: sep_conv_3x3(h-1) + sep_conv_3x3(h-2) | sep_conv_3x3(h-2) + identity(h-1) | "
        "sep_conv_3x3(h-1) + identity(h-2) | identity(h-2) + dil_conv_3x3(n0) | identity(h-1) + max_pool_3x3(h-2); "
        "reduce: max_pool_3x3(h-2) + max_pool_3x3(h-1) | identity(n0) + max_pool_3x3(h-1) | "
        "max_pool_3x3(h-2) + identity(n0) | identity(n0) + identity(n1) | avg_pool_3x3(n0) + sep_conv_5x5(h-1)")
TINY = {"channels": 8, "layers": 1}
QUICK = {"epochs": 2, "batch_size": 64, "lr": 0.05}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small networks: one thread is fastest, and the same thread count keeps runs bit-identical."""


def micro_spec(**build) -> NetSpec:
    train, _ = load_dataset("digits")
    from nsganet.data import channel_stats

    mean, std = channel_stats(train)
    return NetSpec(space="micro", arch=ARCH, num_classes=10, input_size=8, in_channels=1, mean=mean, std=std,
                   build_options={**TINY, **build}, dataset={"name": "digits", "data": None, "image_size": None})


def micro_model(auxiliary: bool = True, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return micro_spec().build(auxiliary=auxiliary)


def states_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def read_curves(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


# -- the recipe loop ----------------------------------------------------------------------------------------------

def test_fit_writes_best_last_and_curves_and_learns(tmp_path, digits):
    train, valid = digits
    model = ResNet(num_classes=10, in_channels=1, width=8)
    settings = RetrainSettings(epochs=4, batch_size=32, lr=0.05, cutout=0)
    result = fit(model, train, valid, settings, tmp_path, progress=False)
    rows = read_curves(tmp_path / "curves.csv")
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4]
    assert list(rows[0]) == ["epoch", "lr", "train_loss", "train_acc", "valid_acc", "seconds", "images_per_s"]
    assert float(rows[-1]["train_loss"]) < float(rows[0]["train_loss"])
    assert float(rows[0]["lr"]) == pytest.approx(0.05) and float(rows[-1]["lr"]) < float(rows[1]["lr"]) < 0.05
    assert all(float(r["images_per_s"]) > 0 and float(r["seconds"]) > 0 for r in rows)
    valid_acc = [float(r["valid_acc"]) for r in rows]
    assert result.best_accuracy == max(valid_acc) > 30  # well above chance (10%)
    assert result.best_epoch == valid_acc.index(max(valid_acc)) + 1
    for name in ("best.pt", "last.pt", "checkpoint.pt", "curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    best = torch.load(tmp_path / "best.pt", weights_only=True)
    last = torch.load(tmp_path / "last.pt", weights_only=True)
    assert states_equal(best, result.best_state) and states_equal(last, {k: v.cpu() for k, v in
                                                                         model.state_dict().items()})
    # the saved best weights reach the recorded validation accuracy
    from nsganet.data import BatchLoader, channel_stats
    from nsganet.train.loop import accuracy

    restored = ResNet(num_classes=10, in_channels=1, width=8)
    restored.load_state_dict(best)
    mean, std = channel_stats(train)
    assert accuracy(restored, BatchLoader(valid, 64, mean, std, shuffle=False)) == pytest.approx(max(valid_acc))
    assert result.images_per_second > 0 and result.epochs == 4


def test_auxiliary_head_and_drop_path_are_trained(tmp_path, digits):
    train, valid = digits
    model = micro_model(auxiliary=True)
    seen = []
    original = model.forward

    def spy(x):
        output = original(x)
        if model.training:
            seen.append((isinstance(output, tuple), model.drop_path_prob))
        return output

    model.forward = spy
    head_before = copy.deepcopy(model.auxiliary_head.state_dict())
    fit(model, train, valid, RetrainSettings(epochs=2, batch_size=64, drop_path=0.4), tmp_path, progress=False)
    assert seen and all(is_tuple for is_tuple, _ in seen)  # logits and auxiliary logits while training
    assert sorted({p for _, p in seen}) == [0.0, pytest.approx(0.2)]  # linear schedule: 0.4 * epoch / 2
    assert not states_equal(head_before, model.auxiliary_head.state_dict())  # the aux loss reached the head


class StopTraining(Exception):
    """Raised by :func:`fit_stopped_after_first_epoch` to stop a run as an interruption would."""


def fit_stopped_after_first_epoch(model, train, valid, settings, out, seed):
    """Run ``fit`` into ``out`` and stop it once its first epoch is checkpointed."""

    def stop_after_first(epoch, result):
        if epoch == 1:
            raise StopTraining

    with pytest.raises(StopTraining):
        fit(model, train, valid, settings, out, seed=seed, progress=False, on_epoch=stop_after_first)


def test_interrupted_fit_resumes_to_bit_identical_weights(tmp_path, digits):
    """Aux head, drop-path, EMA, augmentation: stop after epoch 1 of 3, resume, compare with an unbroken run."""
    train, valid = digits
    settings = RetrainSettings(epochs=3, batch_size=64, lr=0.05, ema_decay=0.99)
    reference = fit(micro_model(), train, valid, settings, tmp_path / "reference", seed=5, progress=False)

    fit_stopped_after_first_epoch(micro_model(), train, valid, settings, tmp_path / "resumed", seed=5)
    assert load_checkpoint(tmp_path / "resumed" / CHECKPOINT_FILE)["epoch"] == 1
    resumed_model = micro_model(seed=99)  # its initial weights must not matter: the checkpoint's are loaded
    resumed = fit(resumed_model, train, valid, settings, tmp_path / "resumed", seed=5, resume=True, progress=False)
    assert states_equal(resumed_model.state_dict(), reference.model.state_dict())
    assert states_equal(resumed.best_state, reference.best_state) and resumed.best_epoch == reference.best_epoch
    for name in ("last.pt", "best.pt"):
        assert states_equal(torch.load(tmp_path / "resumed" / name, weights_only=True),
                            torch.load(tmp_path / "reference" / name, weights_only=True))
    a, b = (load_checkpoint(tmp_path / run / CHECKPOINT_FILE) for run in ("resumed", "reference"))
    assert states_equal(a["ema"], b["ema"]) and a["ema_updates"] == b["ema_updates"]
    for column in ("train_loss", "train_acc", "valid_acc", "lr"):
        assert a["history"][column] == b["history"][column]


def test_resume_refuses_other_settings_and_missing_checkpoints(tmp_path, digits):
    train, valid = digits
    settings = RetrainSettings(epochs=1, batch_size=64)
    fit(micro_model(), train, valid, settings, tmp_path, progress=False)
    with pytest.raises(NsganetError, match="already holds a re-training run"):
        fit(micro_model(), train, valid, settings, tmp_path, progress=False)
    with pytest.raises(NsganetError, match=r"started with setting epochs=1, now 2"):
        fit(micro_model(), train, valid, RetrainSettings(epochs=2, batch_size=64), tmp_path, resume=True,
            progress=False)
    with pytest.raises(NsganetError, match="train_images"):
        fit(micro_model(), train.subset(range(100)), valid, settings, tmp_path, resume=True, progress=False)
    with pytest.raises(NsganetError, match="nothing to resume"):
        fit(micro_model(), train, valid, settings, tmp_path / "empty", resume=True, progress=False)


def test_ema_weights_are_the_validated_and_saved_ones(tmp_path, digits):
    train, valid = digits
    captured = {}

    def capture(epoch, result):
        captured[epoch] = {k: v.clone() for k, v in result.model.state_dict().items()}

    model = micro_model(auxiliary=False)
    result = fit(model, train, valid, RetrainSettings(epochs=2, batch_size=64, ema_decay=0.9), tmp_path,
                 progress=False, on_epoch=capture)
    checkpoint = load_checkpoint(tmp_path / CHECKPOINT_FILE)
    ema_state = checkpoint["ema"]
    raw = captured[2]
    assert states_equal(torch.load(tmp_path / "last.pt", weights_only=True), ema_state)
    assert not states_equal(ema_state, raw)  # the average lags behind the raw weights
    assert checkpoint["ema_updates"] == 2 * 3  # one update per step: 192 images, batches of 64
    if result.best_epoch == 2:
        assert states_equal(result.best_state, ema_state)
    assert not states_equal(result.best_state, captured[result.best_epoch])


def test_ema_update_is_a_warmed_up_moving_average():
    model = torch.nn.Linear(3, 2)
    ema = ModelEMA(model, decay=0.9)
    start = model.weight.detach().clone()
    with torch.no_grad():
        model.weight.add_(1.0)
    ema.update()  # warm-up decay min(0.9, 1/10) = 0.1
    assert torch.allclose(ema.module.weight, start + 0.9)
    assert ema.current_decay() == pytest.approx(2 / 11)
    with pytest.raises(ValueError):
        ModelEMA(model, decay=1.0)
    tied = torch.nn.Sequential(torch.nn.Linear(2, 2, bias=False), torch.nn.Linear(2, 2, bias=False))
    tied[1].weight = tied[0].weight
    ema = ModelEMA(tied, decay=0.9, warmup=False)
    start = tied[0].weight.detach().clone()
    with torch.no_grad():
        tied[0].weight.add_(1.0)
    ema.update()  # a weight shared by two layers is averaged once, not twice
    assert torch.allclose(ema.module[1].weight, start + 0.1)


def untrained_supernet_file(tmp_path, mean, std):
    """An untrained tiny mobilenetv3 supernet saved as an nsganet supernet file."""
    from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig
    from nsganet.supernet.files import TrainedSupernet

    space = MobileNetV3Space(SupernetConfig.small(16, width_mult=0.25))
    torch.manual_seed(0)
    supernet = TrainedSupernet(space, space.new_supernet(10, 1), 10, 1, mean, std, "digits")
    path = tmp_path / "supernet.pt"
    supernet.save(path)
    return path, supernet


def mobilenet_folder(tmp_path, supernet_file=True):
    """A mobilenetv3 network exported with weights inherited from an untrained supernet."""
    spec = micro_spec()
    path, supernet = untrained_supernet_file(tmp_path, spec.mean, spec.std)
    space = supernet.space
    genome = space.sample(np.random.default_rng(1), 1)[0]
    subnet = supernet.extract(genome)
    net = NetSpec(space="mobilenetv3", arch=space.to_string(genome), num_classes=10, input_size=8, in_channels=1,
                  mean=spec.mean, std=spec.std, space_options=space.options,
                  dataset=spec.dataset, supernet=str(path) if supernet_file else None)
    folder = write_net(tmp_path / "net", net, subnet, weights=True, onnx=False)
    return folder, subnet


def test_distillation_from_a_supernet_teacher_changes_the_update(tmp_path, digits):
    from nsganet.deploy.retrain import supernet_teacher

    train, valid = digits
    folder, student = mobilenet_folder(tmp_path)
    teacher = supernet_teacher(read_spec(folder), folder, train)
    assert not teacher.training
    one_step = {"epochs": 1, "batch_size": len(train), "cutout": 0}  # a single step over all images

    def after(name, **settings):
        model = copy.deepcopy(student)
        fit(model, train, valid, RetrainSettings(**one_step, **settings), tmp_path / name, progress=False,
            teacher=teacher if name != "plain" else None)
        return model.state_dict()

    plain, unused, distilled = after("plain"), after("unused", distill=0.0), after("distilled", distill=1.0,
                                                                                   temperature=2.0)
    assert states_equal(plain, unused)  # a teacher with weight 0 changes nothing
    weights = [k for k in plain if k.endswith("weight") and plain[k].dim() > 1]
    assert any(not torch.equal(plain[k], distilled[k]) for k in weights)  # the KD term moved the weights
    with pytest.raises(NsganetError, match="teacher"):
        fit(copy.deepcopy(student), train, valid, RetrainSettings(distill=1.0), tmp_path / "x", progress=False)


def test_train_net_distills_from_the_supernet_named_in_net_json(tmp_path):
    folder, _ = mobilenet_folder(tmp_path)
    trained = train_net(folder, overrides={"epochs": 1, "batch_size": 128, "distill": 1.0}, train_images=256,
                        progress=False, onnx=False)
    assert trained.finetuned and trained.settings.ema_decay == pytest.approx(0.9998)
    assert trained.settings.lr == pytest.approx(0.005)
    assert load_checkpoint(trained.out / CHECKPOINT_FILE)["meta"]["teacher"] is True
    assert read_spec(trained.out).supernet == read_spec(folder).supernet


# -- exported networks --------------------------------------------------------------------------------------------

def test_trained_folder_loads_back_with_the_trained_outputs(tmp_path):
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    trained = train_net(folder, overrides={"epochs": 2, "batch_size": 64}, train_images=256, progress=False)
    out = folder / "train"
    assert trained.out == out and not trained.finetuned
    spec, model = load_net(out)
    assert "auxiliary" not in spec.build_options and spec.build_options == TINY
    assert spec.source["trained"]["epochs"] == 2 and spec.source["trained"]["data"]["train_images"] == 256
    assert spec.source["trained"]["valid_acc"] == trained.result.best_accuracy
    x = torch.randn(16, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(model(x), trained.model(x))
        # net.pt is best.pt without the auxiliary head
        with_aux = spec.build(auxiliary=True)
        with_aux.load_state_dict(torch.load(out / "best.pt", weights_only=True))
        assert torch.equal(with_aux.eval()(x), model(x))
    import onnxruntime

    session = onnxruntime.InferenceSession(str(out / "net.onnx"), providers=["CPUExecutionProvider"])
    onnx_out = session.run(None, {"input": x.numpy()})[0]
    assert np.allclose(onnx_out, model(x).detach().numpy(), atol=1e-4)
    summary = json.loads((out / "train.json").read_text())
    assert summary["images_per_s"] > 0 and summary["settings"]["cutout"] is None
    # training the trained folder again fine-tunes its weights
    again = train_net(out, overrides={"epochs": 1, "batch_size": 64}, train_images=128, progress=False, onnx=False)
    assert again.finetuned and again.out == out / "train"


def test_finetuning_starts_from_the_inherited_weights(tmp_path):
    spec = micro_spec()
    torch.manual_seed(3)
    inherited = spec.build()
    folder = write_net(tmp_path / "net", spec, inherited, weights=True, onnx=False)
    trained = train_net(folder, overrides={"epochs": 1, "batch_size": 64, "lr": 1e-12, "ema_decay": None},
                        train_images=128, progress=False, onnx=False)
    assert trained.finetuned
    start, end = inherited.state_dict(), trained.model.state_dict()
    convs = [k for k in start if k.endswith("weight") and start[k].dim() == 4]
    assert all(torch.allclose(start[k], end[k], atol=1e-6) for k in convs)  # a negligible learning rate
    scratch = train_net(folder, tmp_path / "scratch", {"epochs": 1, "batch_size": 64, "lr": 1e-12},
                        train_images=128, scratch=True, progress=False, onnx=False)
    assert not scratch.finetuned and scratch.settings.ema_decay is None
    assert not all(torch.allclose(start[k], scratch.model.state_dict()[k], atol=1e-3) for k in convs)


def test_full_training_has_no_validation_and_best_is_last(tmp_path):
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    trained = train_net(folder, overrides={"epochs": 2, "batch_size": 128, "valid_fraction": 0.0},
                        train_images=200, progress=False, onnx=False)
    assert trained.result.best_accuracy is None and trained.result.best_epoch == 2
    rows = read_curves(trained.out / "curves.csv")
    assert [r["valid_acc"] for r in rows] == ["", ""]
    assert states_equal(torch.load(trained.out / "best.pt", weights_only=True),
                        torch.load(trained.out / "last.pt", weights_only=True))


def test_resnet_baseline_shapes_and_depth():
    net = ResNet(num_classes=7, in_channels=1, width=4, blocks=3)
    assert net.depth == 20
    assert net(torch.randn(2, 1, 8, 8)).shape == (2, 7)
    assert ResNet(width=16).depth == 8
    with pytest.raises(ValueError):
        ResNet(blocks=0)


# -- the command --------------------------------------------------------------------------------------------------

def cli_error(capsys, *args) -> str:
    assert main(["train", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0, err
    return err


def test_bad_input_is_a_one_line_error(tmp_path, capsys):
    assert "no such network folder" in cli_error(capsys, str(tmp_path / "missing"))
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "net.json").write_text("{not json")
    assert "not valid JSON" in cli_error(capsys, str(broken))
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    torch.save(ResNet(num_classes=10, in_channels=1).state_dict(), tmp_path / "other.pt")
    wrong = write_net(tmp_path / "wrong", micro_spec(), onnx=False)
    (tmp_path / "other.pt").rename(wrong / "net.pt")
    assert "do not fit" in cli_error(capsys, str(wrong), "-q")
    assert "nothing to resume" in cli_error(capsys, str(folder), "--resume", "-q")
    assert "names none" in cli_error(capsys, str(folder), "--distill", "1", "-q")
    assert "drop_path must be in [0, 1)" in cli_error(capsys, str(folder), "--drop-path", "1.5", "-q")
    assert "cannot go with --valid-fraction" in cli_error(capsys, str(folder), "--full", "--valid-fraction", "0.1")
    assert "must differ" in cli_error(capsys, str(folder), "--out", str(folder))
    with pytest.raises(SystemExit) as exit_info:
        main(["train", str(folder), "--epochs", "-3"])
    assert exit_info.value.code == 2 and "--epochs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", str(folder), "--lr", "-0.1"])
    assert not (folder / "train" / CHECKPOINT_FILE).exists()


def test_cli_resume_with_other_settings_is_refused(tmp_path, capsys):
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    args = [str(folder), "--epochs", "1", "--train-images", "64", "--batch-size", "64", "-q", "--no-onnx"]
    assert main(["train", *args]) == 0
    out = capsys.readouterr().out
    assert "trained from scratch: 1 epoch," in out and "images/s" in out and str(folder / "train") in out
    assert "already holds" in cli_error(capsys, *args)
    assert "lr=0.025, now 0.1" in cli_error(capsys, *args, "--resume", "--lr", "0.1")
    assert main(["train", *args, "--resume"]) == 0  # finished: nothing left to train, the export is rewritten


@pytest.mark.slow
def test_killed_cli_training_resumes_to_bit_identical_files(tmp_path):
    """SIGKILL a real `nsganet train` after its first checkpoint, resume it, compare with an unbroken run."""
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    common = ["train", str(folder), "--epochs", "4", "--train-images", "128", "--batch-size", "32", "-q",
              "--no-onnx", "--ema", "0.99", "--seed", "2"]
    # the unbroken run, in this process (one thread, like the subprocesses): CPU training is deterministic
    train_net(folder, tmp_path / "reference", {"epochs": 4, "batch_size": 32, "ema_decay": 0.99}, train_images=128,
              seed=2, progress=False, onnx=False)
    killed_out = tmp_path / "killed"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONHASHSEED": "0"}
    process = subprocess.Popen([sys.executable, "-m", "nsganet", *common, "--out", str(killed_out)], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while not (killed_out / CHECKPOINT_FILE).exists() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    epoch = load_checkpoint(killed_out / CHECKPOINT_FILE)["epoch"]
    assert 1 <= epoch < 4 and not (killed_out / "net.pt").exists()
    resumed = run_cli(*common, "--out", str(killed_out), "--resume")
    assert resumed.returncode == 0, resumed.stderr
    for name in ("net.pt", "best.pt", "last.pt"):
        assert states_equal(torch.load(killed_out / name, weights_only=True),
                            torch.load(tmp_path / "reference" / name, weights_only=True))
    a, b = (load_checkpoint(path / CHECKPOINT_FILE) for path in (killed_out, tmp_path / "reference"))
    assert states_equal(a["model"], b["model"]) and states_equal(a["ema"], b["ema"])
    curves = [read_curves(path / "curves.csv") for path in (killed_out, tmp_path / "reference")]
    assert [[r["train_loss"], r["valid_acc"]] for r in curves[0]] == [[r["train_loss"], r["valid_acc"]]
                                                                      for r in curves[1]]
    assert all(math.isfinite(float(r["train_loss"])) for r in curves[0])


def test_settings_validation():
    with pytest.raises(NsganetError, match="epochs"):
        RetrainSettings(epochs=0)
    with pytest.raises(NsganetError, match="ema_decay"):
        RetrainSettings(ema_decay=1.5)
    with pytest.raises(NsganetError, match="unknown re-training setting"):
        RetrainSettings.defaults(warmup=3)
    tuned = RetrainSettings.defaults(finetune=True, epochs=3)
    assert tuned.lr < RetrainSettings().lr and tuned.ema_decay and tuned.epochs == 3
    augmentation = RetrainSettings().augmentation(load_dataset("digits")[0])
    assert (augmentation.crop_padding, augmentation.cutout, augmentation.flip) == (1, 4, False)
