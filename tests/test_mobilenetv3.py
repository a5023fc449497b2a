"""The once-for-all MobileNetV3 space: encoding, strings, elastic layers, supernet, subnets, costs, BN calibration."""

import math

import numpy as np
import pytest
import torch
from conftest import randomise
from torch import nn

from nsganet.costs.model import CostModel
from nsganet.errors import InvalidArchitecture
from nsganet.nn.bn_calibration import recalibrate_bn
from nsganet.nn.elastic import DynamicBatchNorm2d, DynamicLinear, DynamicSE, DynamicSeparableConv2d
from nsganet.nn.mobilenetv3 import MobileNetV3
from nsganet.nn.mobilenetv3_shape import make_divisible
from nsganet.nn.mobilenetv3_supernet import MobileNetV3Supernet
from nsganet.spaces import get_space
from nsganet.spaces.mobilenetv3 import MobileNetV3Space, SupernetConfig

SPACE = MobileNetV3Space()  # the ImageNet supernet's space
SMALL = SupernetConfig.small(32)
SMALL_SPACE = MobileNetV3Space(SMALL)


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def supernet():
    torch.manual_seed(0)
    return randomise(MobileNetV3Supernet(SMALL, num_classes=10)).eval()


# -- encoding and strings -----------------------------------------------------------------------


def test_encoding_has_the_46_variables_of_nsganetv2():
    enc = SPACE.encoding
    assert enc.n_var == 46 and get_space("mobilenetv3").encoding.n_var == 46
    assert enc.upper.tolist() == [2, 2, 2, 2, 2, 2, 2, 2, 2] * 5 + [32]  # resolutions 128..256 in steps of 4
    assert len(enc.units) == 5 * 5 + 1 and len(enc.blocks) == 6
    assert enc.units[:5] == ((0,), (1, 5), (2, 6), (3, 7), (4, 8)) and enc.units[-1] == (45,)
    assert enc.blocks[0] == (0, 1, 2, 3, 4) and enc.blocks[-1] == (25,)
    # layers 3 and 4 of a stage exist from depth index 1 and 2 on; both their variables depend on it
    assert set(enc.conditions[:4]) == {(3, 0, 1), (7, 0, 1), (4, 0, 2), (8, 0, 2)}
    assert len(enc.conditions) == 20


def test_genomes_round_trip_through_strings():
    rng = np.random.default_rng(0)
    for genome in [*SPACE.sample(rng, 300), SPACE.smallest(), SPACE.largest()]:
        text = SPACE.to_string(genome)
        back = SPACE.from_string(text)
        assert back.dtype == np.int64 and np.array_equal(back, SPACE.encoding.canonical(genome))
        assert SPACE.to_string(back) == text
    assert SPACE.to_string(SPACE.smallest()) == "r128" + " | k3e3 k3e3" * 5
    assert SPACE.to_string(SPACE.largest()) == "r256" + " | k7e6 k7e6 k7e6 k7e6" * 5


def test_string_lists_active_layers_per_stage():
    text = "r224 | k3e4 k5e6 | k7e3 k3e3 k5e4 | k3e3 k3e3 k3e3 k3e3 | k5e6 k5e6 | k7e4 k3e6 k5e3"
    genome = SPACE.from_string(text)
    assert SPACE.to_string(genome) == text
    arch = SPACE.to_config(genome)
    assert arch["resolution"] == 224 and arch["depths"] == [2, 3, 4, 2, 3]
    assert arch["kernel_sizes"][:5] == [3, 5, 7, 3, 5] and arch["expand_ratios"][:5] == [4, 6, 3, 3, 4]
    assert arch["strides"] == [2, 1, 2, 1, 1, 2, 1, 1, 1, 1, 1, 2, 1, 1]
    assert arch["out_channels"][:2] == [24, 24] and arch["in_channels"][:3] == [16, 24, 24]
    assert arch["mid_channels"][:2] == [64, 144]  # 16 * 4, 24 * 6
    spaced = "  r224|k3e4   k5e6|k7e3 k3e3 k5e4|k3e3 k3e3 k3e3 k3e3|k5e6 k5e6|k7e4 k3e6 k5e3 "
    assert SPACE.from_string(spaced).tolist() == genome.tolist()


def test_inactive_variables_change_neither_string_nor_costs():
    rng = np.random.default_rng(1)
    for genome in SPACE.sample(rng, 50):
        noisy = genome.copy()
        for var, controller, min_value in SPACE.encoding.conditions:
            if noisy[controller] < min_value:
                noisy[var] = rng.integers(0, SPACE.encoding.upper[var] + 1)
        assert SPACE.to_string(noisy) == SPACE.to_string(genome)
        assert SPACE.analytic_costs(noisy) == SPACE.analytic_costs(genome)
        assert np.array_equal(SPACE.check(noisy), genome)


@pytest.mark.parametrize("text, fragment", [
    ("", "6 parts"),
    ("r224 | k3e4 k5e6", "6 parts"),
    ("r224 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "6 parts"),
    ("r225 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "resolution 'r225'"),
    ("224 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "resolution '224'"),
    ("r224 | k3e4 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "stage 1 has 1 layer"),
    ("r224 | k3e4 k5e6 | | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "stage 2 has 0 layer"),
    ("r224 | k3e4 k5e6 | k3e4 k5e6 k3e4 k5e6 k3e4 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "stage 2 has 5 layer"),
    ("r224 | k3e4 k5e6 | k3e4 k9e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "stage 2 layer 'k9e6'"),
    ("r224 | k3e4 k5e5 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "stage 1 layer 'k5e5'"),
    ("r224 | k3e4 k5e6.0 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "stage 1 layer 'k5e6.0'"),
    ("r224 | K3E4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "stage 1 layer 'K3E4'"),
    ("r224 | __import__('os') k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6 | k3e4 k5e6", "is not 'k<kernel>e"),
])
def test_malformed_strings_raise_one_line_errors(text, fragment):
    with pytest.raises(InvalidArchitecture, match=fragment.replace("(", r"\(").replace(".", r"\.")) as info:
        SPACE.from_string(text)
    assert "\n" not in str(info.value)


def test_non_strings_and_bad_genomes_are_rejected():
    with pytest.raises(InvalidArchitecture, match="must be a string"):
        SPACE.from_string(["r224"])
    for genome in ([0] * 45, [0] * 45 + [33], [3] + [0] * 45, [0.5] * 46):
        with pytest.raises(InvalidArchitecture):
            SPACE.to_string(np.array(genome))


def test_make_divisible_and_presets():
    assert [make_divisible(v) for v in (16 * 1.2, 24 * 1.2, 960 * 1.2, 1280 * 1.2, 10, 4)] == \
        [24, 32, 1152, 1536, 16, 8]
    assert SupernetConfig.imagenet().stage_widths == (24, 40, 80, 112, 160)
    assert SupernetConfig.imagenet(1.2).stage_widths == (32, 48, 96, 136, 192)
    assert SupernetConfig.small(32).resolutions == (24, 28, 32)
    assert SupernetConfig.small(28).resolutions == (20, 24, 28)
    assert SupernetConfig.small(32).stage_strides == (2, 2, 2, 1, 2)
    assert SupernetConfig.small(16).resolutions == (12, 16)
    assert SupernetConfig.small(16).stage_strides == (1, 2, 2, 1, 2)
    with pytest.raises(ValueError, match="4 px or more"):
        SupernetConfig.small(3)
    for size in (8, 12, 16, 20, 24, 28, 32, 40):  # the last feature map is never smaller than 2x2
        cfg = SupernetConfig.small(size)
        for r in cfg.resolutions:
            side = math.ceil(r / cfg.stem_stride)
            for s in cfg.stage_strides:
                side = math.ceil(side / s)
            assert side >= 2
    with pytest.raises(ValueError):
        SupernetConfig(kernel_sizes=(3, 4))


# -- elastic layers -----------------------------------------------------------------------------


def test_kernel_transform_starts_as_the_centre_crop():
    torch.manual_seed(0)
    conv = DynamicSeparableConv2d(6, (3, 5, 7))
    w = conv.weight
    assert torch.equal(conv.active_filter(6, 7), w)
    assert torch.equal(conv.active_filter(4, 5), w[:4, :, 1:6, 1:6])
    assert torch.equal(conv.active_filter(6, 3), w[:, :, 2:5, 2:5])
    with torch.no_grad():  # learned transforms: 7 -> 5 through 7to5, then 5 -> 3 through 5to3
        getattr(conv, "7to5_matrix").add_(0.1 * torch.randn(25, 25))
        getattr(conv, "5to3_matrix").add_(0.1 * torch.randn(9, 9))
    five = (w[:, :, 1:6, 1:6].reshape(6, 25) @ getattr(conv, "7to5_matrix").T).reshape(6, 1, 5, 5)
    three = (five[:, :, 1:4, 1:4].reshape(6, 9) @ getattr(conv, "5to3_matrix").T).reshape(6, 1, 3, 3)
    assert torch.allclose(conv.active_filter(6, 5), five, atol=1e-6)
    assert torch.allclose(conv.active_filter(6, 3), three, atol=1e-6)
    y = conv(torch.randn(2, 6, 9, 9), kernel_size=3)
    assert y.shape == (2, 6, 9, 9)


def test_dynamic_batch_norm_updates_only_the_active_slice():
    bn = DynamicBatchNorm2d(8)
    x = torch.randn(16, 5, 4, 4) * 3 + 1
    y = bn(x)
    assert torch.allclose(y.mean(dim=(0, 2, 3)), torch.zeros(5), atol=1e-5)
    assert torch.allclose(bn.running_mean[:5], 0.1 * x.mean(dim=(0, 2, 3)), atol=1e-5)
    assert torch.equal(bn.running_mean[5:], torch.zeros(3)) and int(bn.num_batches_tracked) == 1
    bn.eval()
    z = torch.randn(2, 5, 3, 3)
    ref = (z - bn.running_mean[:5, None, None]) / torch.sqrt(bn.running_var[:5, None, None] + bn.eps)
    assert torch.allclose(bn(z), ref, atol=1e-5)


def test_dynamic_se_and_linear_slice_their_weights():
    se = DynamicSE(64)
    assert se.reduce.out_channels == 16
    x = torch.randn(2, 32, 3, 3)
    assert se(x).shape == x.shape
    linear = DynamicLinear(10, 6)
    out = linear(torch.randn(3, 7), out_features=4)
    assert out.shape == (3, 4)


# -- supernet -----------------------------------------------------------------------------------


def test_active_subnet_selection(supernet):
    fresh = MobileNetV3Supernet(SMALL, num_classes=10)  # a new supernet runs its largest subnet
    assert fresh.active_resolution == 32 and len(fresh.active_layers()) == 20
    SMALL_SPACE.activate(supernet, SMALL_SPACE.largest())
    assert supernet.active_resolution == 32 and len(supernet.active_layers()) == 20
    SMALL_SPACE.activate(supernet, SMALL_SPACE.smallest())
    assert supernet.active_resolution == 24 and len(supernet.active_layers()) == 10
    assert all(layer.active_kernel_size == 3 and layer.active_expand_ratio == 3 for layer in supernet.active_layers())
    genome = SMALL_SPACE.sample(np.random.default_rng(3), 1)[0]
    SMALL_SPACE.activate(supernet, genome)
    arch = SMALL_SPACE.to_config(genome)
    assert [layer.active_kernel_size for layer in supernet.active_layers()] == arch["kernel_sizes"]
    assert [layer.active_expand_ratio for layer in supernet.active_layers()] == arch["expand_ratios"]
    noisy = SMALL_SPACE.largest()
    noisy[0] = 0  # stage 1 at depth 2: its layers 3 and 4 are inactive but their variables are still set
    SMALL_SPACE.activate(supernet, noisy)
    assert len(supernet.active_layers()) == 18
    with pytest.raises(InvalidArchitecture):
        SMALL_SPACE.activate(supernet, np.zeros(45, dtype=np.int64))
    with pytest.raises(RuntimeError, match="activate a subnet"):
        fresh.get_active_subnet()


def test_extracted_subnets_compute_what_the_supernet_computes(supernet):
    """The issue's acceptance check: 50 random architectures, eval mode, max abs difference below 1e-5."""
    rng = np.random.default_rng(0)
    torch.manual_seed(1)
    x = torch.randn(3, 3, 32, 32)
    worst = 0.0
    genomes = [SMALL_SPACE.largest(), SMALL_SPACE.smallest(), *SMALL_SPACE.sample(rng, 48)]
    with torch.no_grad():
        for i, genome in enumerate(genomes):
            subnet = SMALL_SPACE.extract(supernet, genome)
            assert isinstance(subnet, MobileNetV3) and not subnet.training
            assert subnet.resolution == supernet.active_resolution
            expected = supernet(x)
            worst = max(worst, (subnet(x) - expected).abs().max().item())
            if i % 10 == 0:
                params = sum(p.numel() for p in subnet.parameters()) / 1e6
                assert params == pytest.approx(SMALL_SPACE.analytic_costs(genome)["params"], rel=1e-9)
    assert worst < 1e-5


def test_subnet_extraction_carries_training_mode_and_batch_statistics():
    torch.manual_seed(0)
    net = randomise(MobileNetV3Supernet(SMALL, num_classes=10)).train()
    net.dropout.p = 0.0
    subnet = SMALL_SPACE.extract(net, SMALL_SPACE.sample(np.random.default_rng(5), 1)[0])
    subnet.dropout.p = 0.0
    assert subnet.training
    x = torch.randn(4, 3, 32, 32)
    assert torch.allclose(subnet(x), net(x), atol=1e-5)


def test_sort_channels_keeps_the_widest_expansion_function():
    torch.manual_seed(0)
    net = randomise(MobileNetV3Supernet(SMALL, num_classes=10), seed=2).eval()
    rng = np.random.default_rng(4)
    genomes = SMALL_SPACE.sample(rng, 6)
    for genome in genomes:  # widest expansion everywhere, any depth, kernel and resolution
        for s in range(SMALL.num_stages):
            genome[list(SMALL_SPACE.layout.expand_vars[s])] = len(SMALL.expand_ratios) - 1
    genomes = SMALL_SPACE.encoding.canonical(genomes)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = []
        for genome in genomes:
            SMALL_SPACE.activate(net, genome)
            before.append(net(x))
        net.sort_channels()
        for genome, expected in zip(genomes, before):
            SMALL_SPACE.activate(net, genome)
            assert (net(x) - expected).abs().max().item() < 1e-5
    for stage in net.stages:
        for layer in stage:
            importance = layer.project.weight.abs().sum(dim=(0, 2, 3))
            assert torch.all(importance[:-1] >= importance[1:])


# -- static networks and costs ------------------------------------------------------------------


@pytest.mark.parametrize("resolution_index", range(len(SMALL.resolutions)))
def test_built_networks_train_at_every_small_resolution(resolution_index):
    rng = np.random.default_rng(resolution_index)
    genome = SMALL_SPACE.sample(rng, 1)[0]
    genome[SMALL_SPACE.layout.resolution_var] = resolution_index
    torch.manual_seed(0)
    model = SMALL_SPACE.build(genome, num_classes=10, input_size=32)
    assert model.resolution == SMALL.resolutions[resolution_index]
    for size in (32, model.resolution):
        x = torch.randn(2, 3, size, size, requires_grad=True)
        out = model(x)
        assert out.shape == (2, 10)
        out.square().sum().backward()
        assert x.grad is not None and torch.isfinite(x.grad).all()
        assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
        model.zero_grad()


def test_build_options():
    genome = SMALL_SPACE.smallest()
    model = SMALL_SPACE.build(genome, num_classes=7, in_channels=1, dropout=0.3)
    assert model.dropout.p == 0.3 and model(torch.randn(2, 1, 28, 28)).shape == (2, 7)
    with pytest.raises(TypeError, match="unknown options: channels"):
        SMALL_SPACE.build(genome, channels=8)


@pytest.mark.parametrize("space, n, options", [
    (SMALL_SPACE, 30, {}),
    (SMALL_SPACE, 5, {"num_classes": 100, "in_channels": 1, "input_size": 28}),
    (SPACE, 4, {"num_classes": 1000}),
])
def test_analytic_costs_equal_counted_costs(space, n, options):
    model = CostModel(space, **options)
    rng = np.random.default_rng(0)
    genomes = [space.smallest(), space.largest(), *space.sample(rng, n)]
    for genome in genomes:
        counted = model.count(genome)
        analytic = space.analytic_costs(genome, **options)
        for name in ("flops", "params"):
            assert abs(analytic[name] - counted[name]) <= 1e-6 * counted[name], (space.to_string(genome), name)
    assert model.measure(genomes[0]) == space.analytic_costs(genomes[0], **options)


# -- batch-norm recalibration -------------------------------------------------------------------


def test_recalibrate_bn_matches_a_manual_estimate():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3, bias=False), nn.BatchNorm2d(4, momentum=0.3), nn.ReLU(),
                          nn.Conv2d(4, 2, 1)).eval()
    images = torch.randn(100, 3, 6, 6) * 2 + 0.5
    recalibrate_bn(model, images, batch_size=25)
    bn = model[1]
    assert not model.training and not bn.training and bn.momentum == 0.3
    with torch.no_grad():
        features = model[0](images)
    batches = features.split(25)
    mean = torch.stack([b.mean(dim=(0, 2, 3)) for b in batches]).mean(0)
    var = torch.stack([b.transpose(0, 1).reshape(4, -1).var(dim=1, unbiased=True) for b in batches]).mean(0)
    assert torch.allclose(bn.running_mean, mean, atol=1e-5)
    assert torch.allclose(bn.running_var, var, atol=1e-4)
    assert int(bn.num_batches_tracked) == 4
    model.train()
    recalibrate_bn(model, images, batch_size=100)
    assert model.training and torch.allclose(bn.running_mean, features.mean(dim=(0, 2, 3)), atol=1e-5)


def test_recalibrate_bn_on_subnets_and_the_supernet():
    torch.manual_seed(0)
    net = randomise(MobileNetV3Supernet(SMALL, num_classes=10)).eval()
    genome = SMALL_SPACE.sample(np.random.default_rng(0), 1)[0]
    images = torch.rand(64, 3, 32, 32)
    subnet = SMALL_SPACE.extract(net, genome)
    before = subnet.blocks[1].depthwise_bn.running_mean.clone()
    recalibrate_bn(subnet, images, batch_size=32)
    after = subnet.blocks[1].depthwise_bn.running_mean
    assert not subnet.training and not torch.allclose(before, after)
    recalibrate_bn(net, images, batch_size=32)  # the supernet's active subnet gets the same statistics
    assert not net.training
    calibrated = net.get_active_subnet()
    for ours, theirs in zip(calibrated.modules(), subnet.modules()):
        if isinstance(ours, nn.BatchNorm2d):
            assert torch.allclose(ours.running_mean, theirs.running_mean, atol=1e-5)
            assert torch.allclose(ours.running_var, theirs.running_var, atol=1e-4)
    with pytest.raises(ValueError):
        recalibrate_bn(net, torch.zeros(0, 3, 32, 32))
