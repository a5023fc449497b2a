"""Re-training a network on another dataset: a new classifier and input, from scratch or from inherited weights.

NSGANetV1 searched on one dataset and re-trained the winners from scratch on
others (Table II); NSGANetV2 fine-tunes a subnet's inherited weights under a
new classifier. ``nsganet train NET --dataset OTHER`` does both: cell
networks start fresh, supernet subnets keep every weight that still fits.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from test_retrain import micro_spec

from nsganet.cli import main
from nsganet.data import load_split
from nsganet.deploy.netfile import load_net, read_spec, write_net
from nsganet.deploy.retrain import train_net
from nsganet.spaces import get_space

QUICK = {"epochs": 1, "batch_size": 64}


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    """Small networks: one thread is fastest."""


def test_a_cell_network_searched_on_digits_is_retrained_from_scratch_on_mnist5k(tmp_path):
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    trained = train_net(folder, overrides=QUICK, dataset="mnist5k", train_images=256, progress=False, onnx=False)
    spec = read_spec(trained.out)
    assert (spec.num_classes, spec.input_size, spec.in_channels) == (10, 28, 1)
    assert spec.dataset == {"name": "mnist5k", "data": None, "image_size": None}
    mnist = load_split("mnist5k", None, "train")
    pixels = mnist.images.float() / 255
    assert spec.mean == pytest.approx([float(pixels.mean())], abs=1e-4)  # the new data's statistics
    transfer = spec.source["trained"]["transfer"]
    assert transfer["from"] == {"dataset": {"name": "digits", "data": None, "image_size": None}, "num_classes": 10,
                                "input_size": 8, "in_channels": 1}
    assert transfer["weights"] == "from scratch" and not trained.finetuned
    _, model = load_net(trained.out)
    assert model(torch.rand(2, 1, 28, 28)).shape == (2, 10)


def test_trained_cell_weights_are_not_carried_to_other_data(tmp_path):
    """V1's transfer: even a trained cell network starts from scratch on the new data."""
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    first = train_net(folder, overrides=QUICK, train_images=128, progress=False, onnx=False)
    again = train_net(first.out, out=tmp_path / "mnist", overrides=QUICK, dataset="mnist5k", train_images=128,
                      progress=False, onnx=False)
    assert not again.finetuned and again.spec.source["trained"]["transfer"]["weights"] == "from scratch"


def test_a_supernet_subnet_keeps_its_weights_under_a_new_classifier(tmp_path):
    space = get_space("mobilenetv3").for_images(8)
    genome = space.sample(np.random.default_rng(0), 1)[0]
    torch.manual_seed(0)
    model = space.build(genome, num_classes=10, input_size=8, in_channels=1)
    spec = micro_spec()
    spec.space, spec.arch, spec.space_options, spec.build_options = "mobilenetv3", space.to_string(genome), \
        space.options, {}
    folder = write_net(tmp_path / "net", spec, model, weights=True, onnx=False)
    three = tmp_path / "three.npz"
    rng = np.random.default_rng(0)
    np.savez(three, x_train=rng.integers(0, 255, (120, 16, 16, 3), dtype=np.uint8), y_train=np.arange(120) % 3)
    trained = train_net(folder, overrides={**QUICK, "lr": 1e-9}, dataset="numpy", data=str(three), progress=False,
                        onnx=False)
    assert trained.finetuned
    assert trained.spec.source["trained"]["transfer"]["weights"] == "inherited, new classifier, stem.conv"
    assert (trained.spec.num_classes, trained.spec.in_channels) == (3, 3)
    kept = torch.load(trained.out / "net.pt", weights_only=True)
    before = model.state_dict()
    # a learning rate of 1e-9: every kept tensor is still (within float noise) the inherited one
    assert torch.allclose(kept["blocks.3.depthwise.weight"], before["blocks.3.depthwise.weight"], atol=1e-6)
    assert kept["classifier.weight"].shape == (3, before["classifier.weight"].shape[1])
    summary = json.loads((trained.out / "train.json").read_text())
    assert summary["transfer"]["from"]["num_classes"] == 10


def test_the_command_says_what_was_transferred(tmp_path, capsys):
    folder = write_net(tmp_path / "net", micro_spec(), onnx=False)
    assert main(["train", str(folder), "--dataset", "mnist5k", "--epochs", "1", "--train-images", "64", "-q",
                 "--no-onnx", "--out", str(tmp_path / "mnist")]) == 0
    out = capsys.readouterr().out
    assert ("transferred from digits (10 classes, 8 px, 1 channel) to mnist5k (10 classes, 28 px, 1 channel); "
            "weights from scratch") in out
    assert read_spec(tmp_path / "mnist").dataset["name"] == "mnist5k"
