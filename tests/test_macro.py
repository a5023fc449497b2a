"""The NSGA-Net macro space: encoding, strings, phase wiring, network and costs."""

import numpy as np
import pytest
import torch
from torch import nn

from nsganet.costs.model import CostModel
from nsganet.errors import InvalidArchitecture
from nsganet.nn.macro import MacroNetwork, Phase, PhaseGraph
from nsganet.spaces.macro import MacroSpace

SPACE = MacroSpace()
#: NSGA-Net's published macro architecture (models/macro_genotypes.py of the authors' code).
NSGANET = "1-00-010-0111-10011-0 | 0-00-010-0101-11111-0 | 0-01-101-1011-10011-0"


def _genomes():
    random = [g for s in range(3) for g in SPACE.sample(np.random.default_rng(s), 4)]
    return [SPACE.smallest(), SPACE.largest(), *random]


# -- encoding and strings ------------------------------------------------------------------
def test_encoding_has_sixteen_bits_per_phase():
    enc = SPACE.encoding
    assert enc.n_var == 48 and (enc.lower == 0).all() and (enc.upper == 1).all()
    assert SPACE.smallest().tolist() == [0] * 48 and SPACE.largest().tolist() == [1] * 48


def test_units_and_blocks_follow_nodes_then_skip_per_phase():
    enc = SPACE.encoding
    assert len(enc.units) == 18 and len(enc.blocks) == 3
    assert sorted(i for unit in enc.units for i in unit) == list(range(48))
    for p, block in enumerate(enc.blocks):
        units = [enc.units[u] for u in block]
        assert [len(u) for u in units] == [1, 2, 3, 4, 5, 1]
        flat = [i for u in units for i in u]
        assert flat == list(range(16 * p, 16 * p + 16))  # contiguous, in genome order
        genome = np.zeros(48, dtype=np.int64)
        genome[units[-1][0]] = 1  # the last unit is the skip bit
        assert [skip for _, skip in SPACE.decode(genome)] == [q == p for q in range(3)]
        genome = np.zeros(48, dtype=np.int64)
        genome[list(units[3])] = 1  # the fourth unit: node 5's inputs from nodes 1..4
        assert SPACE.decode(genome)[p][0][3] == [1, 1, 1, 1]


def test_other_sizes_and_invalid_sizes():
    space = MacroSpace(phases=2, nodes=4)
    assert space.encoding.n_var == 14 and [len(u) for u in space.encoding.units] == [1, 2, 3, 1] * 2
    text = "1-01-110-1 | 0-00-000-0"
    assert space.to_string(space.from_string(text)) == text
    with pytest.raises(ValueError):
        MacroSpace(nodes=1)
    with pytest.raises(ValueError):
        MacroSpace(phases=0)


def test_string_round_trips():
    for genome in _genomes():
        text = SPACE.to_string(genome)
        assert np.array_equal(SPACE.from_string(text), genome)
        assert SPACE.to_string(SPACE.from_string(text)) == text
    assert SPACE.to_string(SPACE.smallest()) == " | ".join(["0-00-000-0000-00000-0"] * 3)
    assert SPACE.to_string(SPACE.largest()) == " | ".join(["1-11-111-1111-11111-1"] * 3)
    assert SPACE.to_string(SPACE.from_string(NSGANET)) == NSGANET
    assert SPACE.to_string(SPACE.from_string(NSGANET.replace(" ", ""))) == NSGANET


def test_string_lists_bits_in_genome_order():
    genome = np.arange(48) % 2
    assert SPACE.to_string(genome).split(" | ")[0] == "0-10-101-0101-01010-1"


PHASE = "1-00-010-0111-10011-0"


@pytest.mark.parametrize("text", [
    "",
    f"{PHASE} | {PHASE}",
    f"{PHASE} | {PHASE} | {PHASE} | {PHASE}",
    f"{PHASE} | {PHASE} | 1-00-010-0111-10011",  # skip bit missing
    f"{PHASE} | {PHASE} | 1-00-010-0111-10011-0-1",  # one group too many
    f"{PHASE} | {PHASE} | 1-0-010-0111-10011-0",  # node 3 with one bit
    f"{PHASE} | {PHASE} | 1-00-0100-0111-10011-0",  # node 4 with four bits
    f"{PHASE} | {PHASE} | 1-00-010-0111-10011-11",  # two skip bits
    f"{PHASE} | {PHASE} | 1-00-012-0111-10011-0",
    f"{PHASE} | {PHASE} | 1-00-0x0-0111-10011-0",
    f"{PHASE} | {PHASE} | 1-0 0-010-0111-10011-0",
    f"{PHASE} | {PHASE} | 1--010-0111-10011-0",
    f"{PHASE}; {PHASE}; {PHASE}",
    None,
    [0] * 48,
])
def test_from_string_rejects_malformed_strings(text):
    with pytest.raises(InvalidArchitecture) as info:
        SPACE.from_string(text)
    assert "\n" not in str(info.value) and str(info.value).startswith("macro")


# -- phase wiring --------------------------------------------------------------------------
def test_phase_graph_drops_isolated_nodes_and_finds_sources_and_sinks():
    graph = PhaseGraph.from_connections([[0], [1, 1], [0, 0, 0], [0, 0, 1, 0]])  # 1->3, 2->3, 3->5; node 4 alone
    assert graph.active == (1, 2, 3, 5)
    assert graph.predecessors == {1: (), 2: (), 3: (1, 2), 5: (3,)}
    assert graph.sinks == (5,)
    empty = PhaseGraph.from_connections([[0], [0, 0]])
    assert empty.active == () and empty.sinks == ()
    with pytest.raises(ValueError):
        PhaseGraph.from_connections([[1], [1]])
    with pytest.raises(ValueError):
        PhaseGraph.from_connections([[2]])


def _convs(module: nn.Module) -> int:
    return sum(isinstance(m, nn.Conv2d) for m in module.modules())


def test_inactive_nodes_are_not_built():
    # phase 1: edge 1->2 (nodes 1, 2); phase 2: nothing; phase 3: edge 2->3 and 3->6 (nodes 2, 3, 6)
    genome = SPACE.from_string("1-00-000-0000-00000-0 | 0-00-000-0000-00000-1 | 0-01-000-0000-00100-0")
    model = SPACE.build(genome)
    phases = [m for m in model.phases if isinstance(m, Phase)]
    assert [sorted(p.nodes.keys()) for p in phases] == [["node1", "node2"], [], ["node2", "node3", "node6"]]
    # stem + per phase (input node + output node + active nodes)
    assert _convs(model) == 1 + (2 + 2) + (2 + 0) + (2 + 3)
    assert _convs(SPACE.build(SPACE.smallest())) == 1 + 3 * 2
    assert _convs(SPACE.build(SPACE.largest())) == 1 + 3 * (2 + 6)


def test_phase_forward_follows_the_dag():
    torch.manual_seed(0)
    # 1->2, 1->3, 2->4, 3->4 (a diamond) plus 1->5 : sinks 4 and 5
    phase = Phase([[1], [1, 0], [0, 1, 1], [1, 0, 0, 0]], skip=True, in_channels=3, channels=4).eval()
    x = torch.randn(2, 3, 6, 6)
    with torch.no_grad():
        x0 = phase.input_node(x)
        n = {k: phase.nodes[f"node{k}"] for k in (1, 2, 3, 4, 5)}
        a = n[1](x0)
        expected = phase.output_node(n[4](n[2](a) + n[3](a)) + n[5](a)) + x0
        assert torch.allclose(phase(x), expected)
    # nodes without predecessors read the input node
    phase = Phase([[0], [1, 1]], skip=False, in_channels=3, channels=4).eval()
    with torch.no_grad():
        x0 = phase.input_node(x)
        expected = phase.output_node(phase.nodes["node3"](phase.nodes["node1"](x0) + phase.nodes["node2"](x0)))
        assert torch.allclose(phase(x), expected)


def test_skip_bit_adds_the_input_node_output():
    torch.manual_seed(0)
    plain = Phase([[0], [0, 0]], skip=False, in_channels=3, channels=4).eval()
    residual = Phase([[0], [0, 0]], skip=True, in_channels=3, channels=4).eval()
    residual.load_state_dict(plain.state_dict())  # same parameters: the skip bit adds none
    assert _convs(plain) == _convs(residual) == 2
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        assert torch.allclose(residual(x) - plain(x), plain.input_node(x), atol=1e-6)
        assert not torch.allclose(residual(x), plain(x))
    no_skip, skip = SPACE.smallest(), SPACE.smallest()
    skip[15] = 1
    costs = CostModel(SPACE, input_size=16)
    assert costs.measure(skip) == costs.measure(no_skip)


# -- network -------------------------------------------------------------------------------
@pytest.mark.parametrize(("shape", "num_classes"), [((2, 3, 16, 16), 10), ((2, 1, 8, 8), 7)])
def test_random_networks_run_forward_and_backward(shape, num_classes):
    torch.manual_seed(0)
    genomes = [SPACE.smallest(), SPACE.largest(), *SPACE.sample(np.random.default_rng(1), 3)]
    for genome in genomes:
        model = SPACE.build(genome, num_classes=num_classes, input_size=shape[-1], in_channels=shape[1], channels=8)
        out = model(torch.randn(*shape))
        assert out.shape == (shape[0], num_classes)
        out.square().sum().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name


def test_pooling_stops_at_one_pixel():
    space = MacroSpace(phases=5, nodes=3)
    model = space.build(space.largest(), input_size=8, channels=(4, 4, 4, 4, 4)).eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 8, 8)).shape == (1, 10)
        assert model(torch.randn(1, 3, 3, 3)).shape == (1, 10)


def test_build_options():
    model = SPACE.build(SPACE.largest(), channels=(4, 6, 8), dropout=0.5, num_classes=3)
    assert isinstance(model, MacroNetwork) and model.classifier.in_features == 8 and model.dropout.p == 0.5
    assert SPACE.build(SPACE.largest(), channels=4).classifier.in_features == 16  # 4, 8, 16
    with pytest.raises(TypeError, match="unknown options"):
        SPACE.build(SPACE.largest(), layers=2)
    with pytest.raises(ValueError):
        SPACE.build(SPACE.largest(), channels=(4, 8))
    with pytest.raises(InvalidArchitecture):
        SPACE.build(np.full(48, 2))
    assert SPACE.proxy_options() == {"channels": 16}


def test_cost_grows_with_connections():
    costs = CostModel(SPACE)
    low, high = costs.measure(SPACE.smallest()), costs.measure(SPACE.largest())
    one_edge = SPACE.from_string(" | ".join(["1-00-000-0000-00000-0"] * 3))
    mid = costs.measure(one_edge)
    for key in ("flops", "params"):
        assert low[key] < mid[key] < high[key]
    for genome in SPACE.sample(np.random.default_rng(0), 3):
        cost = costs.measure(genome)
        for key in ("flops", "params"):  # a random genome often activates every node, hence <=
            assert low[key] < cost[key] <= high[key]
    assert costs.measure(SPACE.from_string(NSGANET)) == high  # NSGA-Net's architecture uses all 18 nodes


def test_adding_connections_never_lowers_cost():
    costs = CostModel(SPACE, input_size=8, build_options={"channels": 4})
    genome = SPACE.smallest()
    previous = costs.measure(genome)["flops"]
    for index in np.random.default_rng(0).permutation(48):
        genome[index] = 1
        flops = costs.measure(genome)["flops"]
        assert flops >= previous
        previous = flops
    assert previous == costs.measure(SPACE.largest())["flops"]
