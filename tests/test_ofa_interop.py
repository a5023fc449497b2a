"""The published formats, in and out: OFA supernet checkpoints straight into search, NSGANetV2's network files.

An official-format checkpoint is written here from a tiny supernet of OFA's
layout (OFA's stages, strides and choices, a quarter of its widths, one input
channel, ten classes): OFA's key names, wrapped dynamic layers and the
``state_dict`` wrapper, in both of the key layouts OFA reads. No download.
Where OFA's own code is installed, the network files are also checked
against it in both directions.
"""

from __future__ import annotations

import csv
import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import import_ofa, randomise, run_cli

from nsganet.data import load_split
from nsganet.deploy.netfile import load_net, open_net
from nsganet.errors import NsganetError
from nsganet.nn.mobilenetv3_shape import SupernetConfig
from nsganet.nn.mobilenetv3_supernet import MobileNetV3Supernet
from nsganet.nn.ofa_weights import to_ofa_state_dict
from nsganet.spaces import MobileNetV3Space, get_space
from nsganet.supernet.files import load_supernet

TINY = SupernetConfig.imagenet(0.25)  # OFA's layout at a quarter of its widths: 8..40 channels per stage
ORIGINAL = ("net.config", "net.inherited")


def write_ofa_checkpoint(path: Path, legacy: bool = False, seed: int = 0) -> MobileNetV3Supernet:
    """A supernet checkpoint as OFA saves one: ``{"state_dict": ...}`` under OFA's names (``legacy``: the older
    ``mobile_inverted_conv`` names under a ``DataParallel`` prefix)."""
    torch.manual_seed(seed)
    supernet = randomise(MobileNetV3Supernet(TINY, num_classes=10, in_channels=1), seed).eval()
    state = to_ofa_state_dict(supernet)
    if legacy:
        state = {"module." + re.sub(r"^blocks\.(\d+)\.conv\.", r"blocks.\1.mobile_inverted_conv.", k): v
                 for k, v in state.items()}
    torch.save({"state_dict": state, "epoch": 120}, path)
    return supernet


@pytest.fixture(scope="module")
def digits_npz(tmp_path_factory) -> Path:
    """160 of the embedded digits (all ten classes) as a numpy dataset: small enough to fine-tune on quickly."""
    train = load_split("digits", None, "train")
    pick = torch.arange(0, len(train), len(train) // 160)[:160]
    path = tmp_path_factory.mktemp("data") / "digits160.npz"
    np.savez(path, x_train=train.images[pick, 0].numpy(), y_train=train.labels[pick].numpy())
    return path


def search_args(checkpoint: Path, data: Path, out: Path, epochs: int) -> list[str]:
    return ["search", "--space", "mobilenetv3", "--strategy", "nsganetv2", "--supernet", str(checkpoint),
            "--supernet-epochs", str(epochs), "--dataset", "numpy", "--data", str(data), "--budget", "4",
            "--pop-size", "8", "-S", "n_doe=4", "-S", "n_candidates=1", "-S", "predictor=rbf", "-S", "generations=2",
            "--vld-size", "40", "--batch-size", "32", "--device", "cpu", "-q", "--out", str(out)]


def evaluations(run: Path) -> list[dict[str, str]]:
    with open(run / "evaluations.csv") as f:
        return list(csv.DictReader(f))


# -- official supernets straight into search ---------------------------------------------------------------------


def test_an_ofa_checkpoint_is_read_with_its_shape(tmp_path):
    source = write_ofa_checkpoint(tmp_path / "tiny.pth", legacy=True)
    supernet = load_supernet(tmp_path / "tiny.pth")
    assert supernet.num_classes == 10 and supernet.in_channels == 1
    assert supernet.space.config.stage_widths == TINY.stage_widths
    assert supernet.space.resolutions == tuple(range(128, 257, 4))  # OFA's sizes below 192 included
    assert all(torch.equal(a, b) for a, b in zip(supernet.module.state_dict().values(),
                                                  source.state_dict().values()))
    torch.save({"state_dict": {"first_conv.conv.weight": torch.zeros(8, 1, 3, 3)}}, tmp_path / "cut.pth")
    with pytest.raises(NsganetError, match="neither an nsganet supernet file nor a published supernet checkpoint"):
        load_supernet(tmp_path / "cut.pth")


@pytest.mark.slow
def test_search_on_an_ofa_checkpoint_as_it_is_and_fine_tuned(tmp_path, digits_npz, exported):
    as_is = exported.parent.parent  # the run the fixture searched with --supernet-epochs 0
    checkpoint = as_is.parent / "ofa.pth"
    rows = evaluations(as_is)
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    assert not (as_is / "supernet").exists()  # searched as it is: nothing trained
    assert {int(r["arch"].split()[0][1:]) for r in rows} <= set(range(128, 257, 4))

    tuned = run_cli(*search_args(checkpoint, digits_npz, tmp_path / "tuned", 1), timeout=600)
    assert tuned.returncode == 0, tuned.stderr
    trained = load_supernet(tmp_path / "tuned" / "supernet" / "supernet.pt")
    assert trained.init == str(checkpoint) and trained.space.config.stage_widths == TINY.stage_widths
    assert len(evaluations(tmp_path / "tuned")) == 4
    start = load_supernet(checkpoint)  # fine-tuning moved the weights it started from
    assert not torch.equal(trained.module.classifier.weight, start.module.classifier.weight)

    # a class count the checkpoint does not have needs fine-tuning first
    np.savez(tmp_path / "three.npz", x_train=np.zeros((90, 8, 8), np.uint8), y_train=np.arange(90) % 3)
    wrong = run_cli(*search_args(checkpoint, tmp_path / "three.npz", tmp_path / "wrong", 0))
    assert wrong.returncode == 2 and "--supernet-epochs N (NSGANetV2 used 5)" in wrong.stderr


def test_supernet_epochs_zero_needs_a_supernet(tmp_path):
    result = run_cli("search", "--space", "mobilenetv3", "--supernet-epochs", "0", "-q", "--out", str(tmp_path / "r"))
    assert result.returncode == 2 and "searches a given --supernet as it is" in result.stderr


# -- NSGANetV2's network files ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tmp_path_factory, digits_npz) -> Path:
    """A mobilenetv3 run on the OFA checkpoint, its most accurate subnet selected: net.json, net.pt and the
    original's three files."""
    root = tmp_path_factory.mktemp("exported")
    checkpoint = root / "ofa.pth"
    write_ofa_checkpoint(checkpoint, seed=1)
    assert run_cli(*search_args(checkpoint, digits_npz, root / "run", 0), timeout=600).returncode == 0
    selected = run_cli("select", str(root / "run"), "-n", "1", "--no-onnx")
    assert selected.returncode == 0, selected.stderr
    return next(p for p in (root / "run" / "selected").iterdir() if p.is_dir())


def test_select_writes_the_original_files_beside_net_json(exported):
    for name in ("net.json", "net.pt", "net.subnet", *ORIGINAL):
        assert (exported / name).is_file(), name
    spec = json.loads((exported / "net.json").read_text())
    subnet = json.loads((exported / "net.subnet").read_text())
    arch = MobileNetV3Space(TINY).to_config(get_space("mobilenetv3", **spec["space_options"]).from_string(spec["arch"]))
    assert subnet == {"ks": arch["kernel_sizes"], "e": arch["expand_ratios"], "d": arch["depths"],
                      "r": arch["resolution"]}
    config = json.loads((exported / "net.config").read_text())
    assert config["name"] == "MobileNetV3" and len(config["blocks"]) == 1 + sum(subnet["d"])
    assert config["blocks"][1]["mobile_inverted_conv"]["name"] == "MBInvertedConvLayer"
    state = torch.load(exported / "net.inherited", weights_only=True)["state_dict"]
    assert "blocks.1.mobile_inverted_conv.inverted_bottleneck.conv.weight" in state


def test_the_original_files_alone_give_the_logits_of_nsganets_export(exported, tmp_path):
    original = tmp_path / "original"
    original.mkdir()
    for name in ORIGINAL:
        shutil.copy(exported / name, original / name)
    spec, model = load_net(exported)
    theirs_spec, theirs = load_net(original)
    assert theirs_spec.arch == spec.arch and theirs_spec.num_classes == 10 and theirs_spec.in_channels == 1
    x = torch.rand(3, 1, 8, 8)
    with torch.no_grad():
        assert torch.equal(theirs(x), model(x))
    # OFA's newer layout (blocks' 'conv', 'MBConvLayer'), a bare state dict, fine-tuned weights in net.init
    config = json.loads((original / "net.config").read_text())
    for block in config["blocks"]:
        block["conv"] = block.pop("mobile_inverted_conv")
        block["conv"]["name"] = "MBConvLayer"
        block["name"] = "ResidualBlock"
    newer = tmp_path / "newer"
    newer.mkdir()
    (newer / "net.config").write_text(json.dumps(config))
    state = torch.load(original / "net.inherited", weights_only=True)["state_dict"]
    torch.save({k.replace(".mobile_inverted_conv.", ".conv."): v for k, v in state.items()}, newer / "net.init")
    _, again = load_net(newer)
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
    assert open_net(newer).weights == newer / "net.init"


@pytest.mark.slow
def test_evaluate_and_train_take_a_folder_of_the_original_files(exported, tmp_path):
    original = tmp_path / "original"
    original.mkdir()
    for name in ORIGINAL:
        shutil.copy(exported / name, original / name)
    evaluated = run_cli("evaluate", str(original), "--dataset", "digits", "--image-size", "8", "--corruptions", "none",
                        "--eps", "none", "--images", "64", "--device", "cpu")
    assert evaluated.returncode == 0, evaluated.stderr
    result = json.loads((original / "eval" / "evaluation.json").read_text())
    assert result["weights"].endswith("net.inherited") and 0 <= result["clean_accuracy"] <= 100
    trained = run_cli("train", str(original), "--dataset", "digits", "--epochs", "1", "--train-images", "128",
                      "--batch-size", "32", "--device", "cpu", "--no-onnx", "-q")
    assert trained.returncode == 0, trained.stderr
    out = original / "train"
    for name in ("net.json", "net.pt", "net.config", "net.init"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "train.json").read_text())
    assert summary["finetuned"] is True


def malformed(tmp_path: Path, exported: Path, change) -> Path:
    folder = tmp_path / f"bad{len(list(tmp_path.iterdir()))}"
    folder.mkdir()
    config = json.loads((exported / "net.config").read_text())
    change(config)
    (folder / "net.config").write_text(json.dumps(config))
    shutil.copy(exported / "net.inherited", folder / "net.inherited")
    return folder


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(name="ResNet50"), "describes a ResNet50"),
    (lambda c: c["blocks"][2]["mobile_inverted_conv"].update(name="ZeroLayer"), "must be an MBInvertedConvLayer"),
    (lambda c: c["blocks"][2]["mobile_inverted_conv"].update(kernel_size=4), "kernel 4 and stride"),
    (lambda c: c["blocks"][2]["mobile_inverted_conv"].pop("act_func"), "lacks 'act_func'"),
    (lambda c: c["blocks"][2]["mobile_inverted_conv"].update(act_func="gelu"), "act_func must be one of"),
    (lambda c: c["blocks"][1].update(shortcut={"name": "IdentityLayer"}), "a shortcut is given where"),
    (lambda c: c["blocks"][2]["mobile_inverted_conv"].update(mid_channels=7), "OFA's layers expand to"),
    (lambda c: c["classifier"].update(in_features=99), "do not follow the last layer"),
    (lambda c: c.update(blocks="all of them"), "blocks must be list"),
])
def test_malformed_configs_are_one_line_errors_naming_the_entry(exported, tmp_path, change, message):
    folder = malformed(tmp_path, exported, change)
    with pytest.raises(NsganetError) as info:
        load_net(folder)
    assert message in str(info.value) and "net.config" in str(info.value) and "\n" not in str(info.value)


def test_weights_that_do_not_fit_the_config_are_refused(exported, tmp_path):
    folder = malformed(tmp_path, exported, lambda c: None)
    state = torch.load(folder / "net.inherited", weights_only=True)["state_dict"]
    state.pop("classifier.linear.bias")
    torch.save({"state_dict": state}, folder / "net.inherited")
    with pytest.raises(NsganetError, match=r"lacks 1 tensor.*classifier\.linear\.bias"):
        load_net(folder)
    state["classifier.linear.bias"] = torch.zeros(3)
    torch.save(state, folder / "net.inherited")
    with pytest.raises(NsganetError, match="has shape"):
        load_net(folder)


# -- against OFA's own code (where it is installed) ---------------------------------------------------------------


def test_ofa_reads_the_files_nsganet_writes_and_nsganet_reads_ofas(tmp_path):
    ofa = import_ofa()
    space = get_space("mobilenetv3")
    genome = space.sample(np.random.default_rng(1), 1)[0]
    torch.manual_seed(0)
    ours = randomise(space.build(genome, num_classes=10, input_size=224), 0).eval()
    space.write_foreign_files(tmp_path, genome, ours)
    config = json.loads((tmp_path / "net.config").read_text())
    theirs = ofa.MobileNetV3.build_from_config(config).eval()
    state = torch.load(tmp_path / "net.inherited", weights_only=True)["state_dict"]
    theirs.load_state_dict({k.replace(".mobile_inverted_conv.", ".conv."): v for k, v in state.items()})
    x = torch.randn(2, 3, config["resolution"], config["resolution"])
    with torch.no_grad():
        assert (theirs(x) - ours(x)).abs().max() < 1e-5

    supernet = ofa.OFAMobileNetV3(n_classes=7, width_mult=1.2, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
                                  depth_list=[2, 3, 4])
    randomise(supernet, 3)
    supernet.set_active_subnet(ks=[3, 5, 7, 5] * 5, e=[6, 3, 4, 3] * 5, d=[3, 2, 4, 2, 3])
    subnet = supernet.get_active_subnet(preserve_weight=True).eval()
    folder = tmp_path / "from-ofa"
    folder.mkdir()
    (folder / "net.config").write_text(json.dumps(subnet.config))
    torch.save({"state_dict": subnet.state_dict()}, folder / "net.inherited")
    (folder / "net.subnet").write_text(json.dumps({"r": 176}))
    spec, model = load_net(folder)
    assert spec.input_size == 176 and spec.space_options["config"]["width_mult"] == 1.2
    x = torch.randn(2, 3, 176, 176)
    with torch.no_grad():
        assert (subnet(x) - model(x)).abs().max() < 1e-5
