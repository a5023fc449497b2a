"""Loading once-for-all (OFA) MobileNetV3 weights: key mapping, errors, and equality with OFA's own network.

The equality test needs OFA's own code, the ``ofa`` package (``make setup``
installs it without its dependencies), and is skipped without it.
"""


import numpy as np
import pytest
import torch
from conftest import import_ofa, randomise

from nsganet.errors import NsganetError
from nsganet.nn.mobilenetv3_shape import SupernetConfig
from nsganet.nn.mobilenetv3_supernet import MobileNetV3Supernet
from nsganet.nn.ofa_weights import (
    CheckpointError,
    load_ofa_checkpoint,
    load_ofa_state_dict,
    ofa_key,
    to_ofa_state_dict,
)
from nsganet.spaces.mobilenetv3 import MobileNetV3Space

SMALL = SupernetConfig.small(32)


pytestmark = pytest.mark.usefixtures("one_thread")


def test_key_mapping_follows_ofa_layout():
    assert ofa_key("stem.bn.running_var") == "first_conv.bn.running_var"
    assert ofa_key("first_block.depthwise.weight") == "blocks.0.conv.depth_conv.conv.weight"
    assert ofa_key("stages.0.0.expand.weight") == "blocks.1.conv.inverted_bottleneck.conv.weight"
    assert ofa_key("stages.2.3.depthwise.7to5_matrix") == "blocks.12.conv.depth_conv.conv.7to5_matrix"
    assert ofa_key("stages.4.1.se.expand.bias") == "blocks.18.conv.depth_conv.se.fc.expand.bias"
    assert ofa_key("stages.1.2.project_bn.weight") == "blocks.7.conv.point_linear.bn.weight"
    assert ofa_key("feature_mix.conv.weight") == "feature_mix_layer.conv.weight"
    assert ofa_key("classifier.weight") == "classifier.linear.weight"
    with pytest.raises(KeyError):
        ofa_key("stages.0.0.unknown.weight")


def test_round_trip_through_the_ofa_layout_and_a_file(tmp_path):
    torch.manual_seed(0)
    source = MobileNetV3Supernet(SMALL, num_classes=10)
    randomise(source, 0)
    state = to_ofa_state_dict(source)
    assert "blocks.1.conv.inverted_bottleneck.conv.conv.weight" in state
    assert "blocks.1.conv.depth_conv.bn.bn.running_mean" in state and "blocks.0.conv.depth_conv.bn.weight" in state
    # older checkpoints: 'mobile_inverted_conv' and a DataParallel prefix, wrapped under "state_dict"
    legacy = {"module." + k.replace(".conv.", ".mobile_inverted_conv.", 1) if k.startswith("blocks.") else k: v
              for k, v in state.items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "ofa.pth"
    torch.save({"state_dict": legacy, "epoch": 3}, path)
    target = MobileNetV3Supernet(SMALL, num_classes=10)
    report = load_ofa_checkpoint(target, path)
    assert report.missing_keys == () and report.unexpected_keys == ()
    for key, value in source.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(target.state_dict()[key], value), key


def test_classifier_can_be_skipped_for_another_number_of_classes():
    state = to_ofa_state_dict(MobileNetV3Supernet(SMALL, num_classes=1000))
    target = MobileNetV3Supernet(SMALL, num_classes=10)
    fragment = r"classifier.linear.weight' has shape \(1000, 640\), expected \(10, 640\)"
    with pytest.raises(CheckpointError, match=fragment):
        load_ofa_state_dict(target, state)
    classifier = target.classifier.weight.clone()
    report = load_ofa_state_dict(target, state, skip_classifier=True)
    assert report.unexpected_keys == () and torch.equal(target.classifier.weight, classifier)


def test_checkpoints_of_other_architectures_give_one_line_errors(tmp_path):
    from nsganet.spaces import get_space

    target = MobileNetV3Supernet(SMALL, num_classes=10)
    micro = get_space("micro").build(np.zeros(40, dtype=np.int64), channels=4, layers=1)
    path = tmp_path / "micro.pt"
    torch.save(micro.state_dict(), path)
    with pytest.raises(CheckpointError, match="is not an OFA MobileNetV3 state dict") as info:
        load_ofa_checkpoint(target, path)
    assert "\n" not in str(info.value) and isinstance(info.value, NsganetError)

    wider = to_ofa_state_dict(MobileNetV3Supernet(SupernetConfig.small(32, width_mult=1.0), num_classes=10))
    path = tmp_path / "wider.pt"
    torch.save(wider, path)
    fragment = r"does not fit this supernet .*width_mult=0\.5.*first_conv\.conv\.weight"
    with pytest.raises(CheckpointError, match=fragment):
        load_ofa_checkpoint(target, path)

    shallower = to_ofa_state_dict(MobileNetV3Supernet(SupernetConfig(**{**SMALL.__dict__, "depths": (2, 3)})))
    with pytest.raises(CheckpointError, match=r"missing \(.*blocks|unexpected|expected"):
        load_ofa_state_dict(target, shallower)

    partial = dict(list(to_ofa_state_dict(target).items())[:50])
    with pytest.raises(CheckpointError, match="missing") as info:
        load_ofa_state_dict(target, partial)
    assert "\n" not in str(info.value)
    assert load_ofa_state_dict(target, partial, strict=False).missing_keys

    for bad, message in ((tmp_path / "absent.pt", "does not exist"), (tmp_path / "junk.pt", "cannot read")):
        if message == "cannot read":
            bad.write_bytes(b"not a checkpoint")
        with pytest.raises(CheckpointError, match=message) as info:
            load_ofa_checkpoint(target, bad)
        assert "\n" not in str(info.value)


# -- equality with OFA's own network (optional) -------------------------------------------------

@pytest.mark.parametrize("width_mult", [1.0, 1.2])
def test_ofa_networks_and_ours_compute_the_same(width_mult):
    OFAMobileNetV3 = import_ofa().OFAMobileNetV3
    torch.manual_seed(0)
    ofa = OFAMobileNetV3(n_classes=1000, width_mult=width_mult, ks_list=[3, 5, 7], expand_ratio_list=[3, 4, 6],
                         depth_list=[2, 3, 4])
    randomise(ofa, 1)
    ofa.eval()
    ours = MobileNetV3Supernet(SupernetConfig.imagenet(width_mult), num_classes=1000).eval()
    report = load_ofa_state_dict(ours, ofa.state_dict())
    assert report.missing_keys == () and report.unexpected_keys == ()
    space, rng = MobileNetV3Space(SupernetConfig.imagenet(width_mult)), np.random.default_rng(0)
    genomes = [space.largest(), space.smallest(), *space.sample(rng, 3)]
    worst = 0.0
    for genome in genomes:
        space.activate(ours, genome)
        arch = space.to_config(genome)
        ks, es, pos = [], [], 0
        for depth in arch["depths"]:  # OFA takes a kernel and expansion for every layer, active or not
            ks += arch["kernel_sizes"][pos:pos + depth] + [3] * (4 - depth)
            es += arch["expand_ratios"][pos:pos + depth] + [3] * (4 - depth)
            pos += depth
        ofa.set_active_subnet(ks=ks, e=es, d=arch["depths"])
        x = torch.randn(2, 3, arch["resolution"], arch["resolution"])
        with torch.no_grad():
            expected = ofa(x)
            worst = max(worst, (ours(x) - expected).abs().max().item(),
                        (ours.get_active_subnet()(x) - expected).abs().max().item())
    assert worst < 1e-5
