"""The NSGANetV1 cell space: operations, cell wiring, encoding, network and cost counts."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from nsganet.costs.model import CostModel
from nsganet.errors import InvalidArchitecture
from nsganet.nn.micro import MicroCell, MicroNetwork, NodeSpec, unused_nodes
from nsganet.nn.micro_ops import OPERATION_NAMES, FactorizedReduce, LocalBinaryConv, make_operation
from nsganet.spaces import get_space
from nsganet.spaces.micro import OPERATIONS, MicroSpace

SPACE = MicroSpace()


def test_operation_tables_agree():
    assert OPERATIONS == OPERATION_NAMES and len(OPERATIONS) == 12


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("stride", [1, 2])
def test_each_operation_keeps_channels_sets_resolution_and_backpropagates(name, stride):
    torch.manual_seed(0)
    op = make_operation(name, 6, stride)
    x = torch.randn(2, 6, 9, 9, requires_grad=True)
    y = op(x)
    assert y.shape == (2, 6, math.ceil(9 / stride), math.ceil(9 / stride))
    y.square().sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for p in op.parameters():
        assert p.grad is not None, f"{name}: parameter without gradient"


def _analytic(name, c, h, stride):
    """Multiply-accumulates and parameters of one operation, counted by hand."""
    o = math.ceil(h / stride)
    fr_macs, fr_params = (c * c * o * o, c * c + 2 * c) if stride == 2 else (0, 0)
    bn = 2 * c
    if name == "identity":
        return fr_macs, fr_params
    if name in ("max_pool_3x3", "avg_pool_3x3"):
        return 0, 0
    if name == "squeeze_excitation":
        hidden = c // 4
        return fr_macs + 2 * c * hidden, fr_params + c * hidden + hidden + hidden * c + c
    k = int(name[-1])  # k x k kernels
    if name.startswith("lbc"):
        return c * c * k * k * o * o + c * c * o * o, bn + c * c + bn
    if name.startswith("dil_conv"):
        return c * k * k * o * o + c * c * o * o, c * k * k + c * c + bn
    if name.startswith("sep_conv"):
        return 2 * (c * k * k * o * o + c * c * o * o), 2 * (c * k * k + c * c + bn)
    assert name == "conv_7x1_1x7"
    return c * c * 7 * h * o + c * c * 7 * o * o, 14 * c * c + bn


@pytest.mark.parametrize("name", OPERATIONS)
@pytest.mark.parametrize("stride", [1, 2])
def test_flop_counter_agrees_with_analytic_counts_per_operation(name, stride):
    from torch.utils.flop_counter import FlopCounterMode

    c, h = 16, 12
    op = make_operation(name, c, stride).eval()
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        op(torch.zeros(1, c, h, h))
    macs, params = _analytic(name, c, h, stride)
    counted_params = sum(p.numel() for p in op.parameters())
    assert counted_params == params
    assert counter.get_total_flops() / 2 == pytest.approx(macs, rel=0.01, abs=0)


def _hook_count(model, x):
    """A second counter: multiply-accumulates of convolutions and linear layers from forward hooks."""
    total = [0]

    def conv_hook(module, inputs, output):
        k = module.kernel_size[0] * module.kernel_size[1]
        total[0] += output.numel() * (module.in_channels // module.groups) * k

    def lbc_hook(module, inputs, output):
        k = module.anchor.shape[-1]
        total[0] += output.shape[0] * module.anchor.shape[0] * output.shape[2] * output.shape[3] \
            * module.anchor.shape[1] * k * k

    def linear_hook(module, inputs, output):
        total[0] += output.numel() * module.in_features

    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            m.register_forward_hook(conv_hook)
        elif isinstance(m, LocalBinaryConv):
            m.register_forward_hook(lbc_hook)
        elif isinstance(m, nn.Linear):
            m.register_forward_hook(linear_hook)
    with torch.no_grad():
        model.eval()(x)
    return total[0]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_network_flops_agree_with_a_second_counter(seed):
    genome = SPACE.sample(np.random.default_rng(seed), 1)[0]
    options = {"channels": 8, "layers": 1}
    flops = CostModel(SPACE, num_classes=10, input_size=16, build_options=options).measure(genome)["flops"]
    torch.manual_seed(0)
    model = SPACE.build(genome, num_classes=10, input_size=16, **options)
    assert flops * 1e6 == pytest.approx(_hook_count(model, torch.zeros(1, 3, 16, 16)), rel=0.01)


def test_cell_concatenates_unused_nodes_and_reduces_resolution():
    nodes = [NodeSpec(0, "identity", 1, "sep_conv_3x3"), NodeSpec(2, "max_pool_3x3", 1, "identity"),
             NodeSpec(3, "avg_pool_3x3", 0, "dil_conv_3x3"), NodeSpec(1, "lbc_3x3", 1, "identity"),
             NodeSpec(2, "identity", 2, "identity")]
    assert unused_nodes(nodes) == [4, 5, 6]  # nodes 2, 3, 4 are read by nobody
    normal = MicroCell(nodes, 12, 10, 6, reduction=False, reduction_prev=False)
    s0, s1 = torch.randn(2, 12, 8, 8), torch.randn(2, 10, 8, 8)
    assert normal(s0, s1).shape == (2, 18, 8, 8) and normal.out_channels == 18
    reduce = MicroCell(nodes, 12, 10, 6, reduction=True, reduction_prev=False)
    assert reduce(s0, s1).shape == (2, 18, 4, 4)
    after = MicroCell(nodes, 12, 10, 6, reduction=False, reduction_prev=True)
    assert after(torch.randn(2, 12, 8, 8), torch.randn(2, 10, 4, 4)).shape == (2, 18, 4, 4)
    # in a reduction cell only the branches reading h-2/h-1 use stride 2
    assert isinstance(reduce.ops[0], FactorizedReduce) and isinstance(reduce.ops[3], FactorizedReduce)
    assert reduce.ops[2].stride == 1  # max_pool reading node 0
    assert isinstance(normal.ops[0], nn.Identity)


def test_cell_wiring_follows_the_genome():
    """Replacing the branch a node reads changes exactly the outputs downstream of it."""
    torch.manual_seed(0)
    nodes = [NodeSpec(1, "identity", 1, "identity")] + [NodeSpec(k + 1, "identity", k + 1, "identity")
                                                        for k in range(1, 5)]
    cell = MicroCell(nodes, 4, 4, 4, reduction=False, reduction_prev=False).eval()
    s0, s1 = torch.randn(1, 4, 5, 5), torch.randn(1, 4, 5, 5)
    # a chain of identities doubling at each node: output = 2^5 * preprocess1(s1), independent of s0
    expected = 32 * cell.preprocess1(s1)
    assert torch.allclose(cell(s0, s1), expected)
    assert torch.allclose(cell(torch.randn_like(s0), s1), expected)


def test_genome_round_trips_and_bounds():
    rng = np.random.default_rng(0)
    assert SPACE.encoding.n_var == 40
    for genome in [*SPACE.sample(rng, 200), SPACE.smallest(), SPACE.largest()]:
        text = SPACE.to_string(genome)
        assert np.array_equal(SPACE.from_string(text), genome)
        assert np.array_equal(SPACE.from_string(text.replace(" ", "")), genome)
    # node k reads only h-2, h-1 or earlier nodes
    for block in range(2):
        for k in range(5):
            assert SPACE.encoding.upper[4 * (5 * block + k)] == k + 1
    assert len(SPACE.encoding.units) == 10 and SPACE.encoding.blocks == ((0, 1, 2, 3, 4), (5, 6, 7, 8, 9))


@pytest.mark.parametrize("text, fragment", [
    ("normal: identity(h-1) + identity(h-1)", "found 1 part"),
    ("reduce: x; normal: y", "must start with 'normal:'"),
    ("normal: identity(h-1) + identity(h-1); reduce: identity(h-1) + identity(h-1)", "5 nodes"),
    ("normal: " + " | ".join(["conv(h-1) + identity(h-1)"] * 5) + "; reduce: " + " | ".join(
        ["identity(h-1) + identity(h-1)"] * 5), "unknown operation 'conv'"),
    ("normal: identity(n0) + identity(h-1) | " + " | ".join(["identity(h-1) + identity(h-1)"] * 4) + "; reduce: "
     + " | ".join(["identity(h-1) + identity(h-1)"] * 5), "cannot read n0"),
    ("normal: " + " | ".join(["identity(h-1)"] * 5) + "; reduce: " + " | ".join(
        ["identity(h-1) + identity(h-1)"] * 5), "must be 'op\\(input\\) \\+ op\\(input\\)'"),
])
def test_bad_strings(text, fragment):
    with pytest.raises(InvalidArchitecture, match=fragment):
        SPACE.from_string(text)


def test_network_channels_grow_by_the_increment_and_aux_head_trains():
    genome = SPACE.sample(np.random.default_rng(3), 1)[0]
    model = SPACE.build(genome, num_classes=4, input_size=8, in_channels=1, channels=6, channel_increment=2,
                        layers=2, auxiliary=True)
    assert isinstance(model, MicroNetwork) and len(model.cells) == 8
    widths = [cell.preprocess1[1].out_channels for cell in model.cells]
    assert widths == [6 + 2 * k for k in range(8)]
    assert [c.reduction for c in model.cells] == [False, False, True, False, False, True, False, False]
    model.train()
    model.drop_path_prob = 0.2
    logits, aux = model(torch.randn(3, 1, 8, 8))
    assert logits.shape == aux.shape == (3, 4)
    (logits.sum() + aux.sum()).backward()
    model.eval()
    assert model(torch.randn(3, 1, 8, 8)).shape == (3, 4)


def test_smallest_and_largest_bound_the_costs():
    model = CostModel(SPACE, input_size=16, build_options={"channels": 8, "layers": 1})
    low, high = model.measure(SPACE.smallest()), model.measure(SPACE.largest())
    for genome in SPACE.sample(np.random.default_rng(1), 5):
        values = model.measure(genome)
        assert low["flops"] <= values["flops"] <= high["flops"]
        assert low["params"] <= values["params"] <= high["params"]


def test_registered():
    assert isinstance(get_space("micro"), MicroSpace)
