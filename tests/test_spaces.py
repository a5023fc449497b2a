import itertools

import numpy as np
import pytest
import torch

from nsganet.errors import InvalidArchitecture
from nsganet.spaces import Encoding, get_space, space_names
from nsganet.spaces.nb201 import OPERATIONS


@pytest.fixture(scope="module")
def nb201():
    return get_space("nb201")


def test_every_nb201_genome_round_trips(nb201):
    strings = set()
    for genome in itertools.product(range(len(OPERATIONS)), repeat=6):
        text = nb201.to_string(np.array(genome))
        assert tuple(nb201.from_string(text)) == genome
        strings.add(text)
    assert len(strings) == 5 ** 6


def test_table_strings_are_canonical(nb201, nb201_accuracy):
    assert len(nb201_accuracy) == 15625
    for text in nb201_accuracy:
        assert nb201.to_string(nb201.from_string(text)) == text


def test_known_string_decodes_to_expected_operations(nb201):
    text = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|"
    assert nb201.edges(nb201.from_string(text)) == [
        ["nor_conv_3x3"], ["nor_conv_3x3", "avg_pool_3x3"], ["skip_connect", "nor_conv_3x3", "skip_connect"]]


@pytest.mark.parametrize("text, fragment", [
    ("", "3 nodes"),
    ("|none~0|+|none~0|none~1|", "3 nodes"),
    ("|conv~0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation"),
    ("|none~1|+|none~0|none~1|+|none~0|none~1|none~2|", "input index must be 0"),
    ("|none~0|+|none~0|+|none~0|none~1|none~2|", "2 edge(s)"),
    ("none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "enclosed"),
    ("|none0|+|none~0|none~1|+|none~0|none~1|none~2|", "unknown operation"),
    ("|none~0|+|none~0|none~1|+|none~0|none~1|none~2|+|none~0|", "3 nodes"),
])
def test_bad_strings_are_rejected_with_a_reason(nb201, text, fragment):
    with pytest.raises(InvalidArchitecture, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        nb201.from_string(text)


@pytest.mark.parametrize("genome", [[0, 0, 0, 0, 0], [0, 0, 0, 0, 0, 5], [-1, 0, 0, 0, 0, 0], [0.5] * 6])
def test_bad_genomes_are_rejected(nb201, genome):
    with pytest.raises(InvalidArchitecture):
        nb201.to_string(np.array(genome))


def test_random_networks_run_forward_and_backward(nb201):
    rng = np.random.default_rng(0)
    for genome in nb201.sample(rng, 4):
        model = nb201.build(genome, num_classes=7, input_size=16)
        x = torch.randn(2, 3, 16, 16)
        out = model(x)
        assert out.shape == (2, 7)
        out.sum().backward()
        assert torch.isfinite(out).all()
        assert model.stem[0].weight.grad is not None and model.head.fc.weight.grad is not None


def test_all_none_cell_outputs_zeros_but_network_still_classifies(nb201):
    model = nb201.build(nb201.smallest(), num_classes=3, input_size=8, in_channels=1)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)


def test_encoding_validates_its_groups():
    with pytest.raises(ValueError):
        Encoding(np.zeros(3), np.ones(3), units=((0, 1),))
    with pytest.raises(ValueError):
        Encoding(np.zeros(2), np.ones(2), units=((0,), (1,)), blocks=((0,),))
    enc = Encoding(np.zeros(2), np.ones(2), units=((0,), (1,)))
    assert enc.blocks == ((0, 1),)


def test_registry_lists_nb201():
    assert "nb201" in space_names()


def test_micro_inc_searches_the_channel_increment():
    space = get_space("micro-inc")
    micro = get_space("micro")
    assert space.encoding.n_var == micro.encoding.n_var + 1
    assert space.encoding.blocks[-1] == (len(space.encoding.units) - 1,)  # its own block for the Bayesian network
    genome = space.sample(np.random.default_rng(3), 1)[0]
    text = space.to_string(genome)
    assert text.startswith(micro.to_string(genome[:-1])) and text.endswith(f"; increment: {space.increment(genome)}")
    assert np.array_equal(space.from_string(text), genome)
    widths = {}
    for value in (0, 4):
        genome[-1] = (0, 2, 4, 6, 8).index(value)
        model = space.build(genome, channels=8, layers=1)
        reference = micro.build(genome[:-1], channels=8, layers=1, channel_increment=value)
        assert [p.shape for p in model.parameters()] == [p.shape for p in reference.parameters()]
        widths[value] = sum(p.numel() for p in model.parameters())
    assert widths[4] > widths[0]
    for bad in (text.replace("; increment: ", "; increment: 1"), text.rsplit(";", 1)[0], text + "; increment: 2"):
        with pytest.raises(InvalidArchitecture):
            space.from_string(bad)


def test_small_encodings_enumerate_every_canonical_genome_once():
    nb201 = get_space("nb201")
    genomes = nb201.encoding.enumerate()
    assert nb201.encoding.size == len(genomes) == 5 ** 6
    assert len(np.unique(genomes, axis=0)) == len(genomes)
    assert genomes[0].tolist() == [0] * 6 and genomes[-1].tolist() == [4] * 6
    # conditional variables: inactive ones are at their lower bound, so fewer genomes than the bounds allow
    conditional = Encoding(lower=np.array([0, 0, 0]), upper=np.array([1, 2, 2]), units=((0,), (1,), (2,)),
                           conditions=((2, 0, 1),))
    listed = conditional.enumerate()
    assert conditional.size == 18 and len(listed) == 3 + 9
    assert all(g[2] == 0 for g in listed if g[0] == 0)
    np.testing.assert_array_equal(conditional.canonical(listed), listed)


def test_nb201_descriptors_describe_what_the_cell_computes():
    nb201 = get_space("nb201")
    identity = nb201.from_string("|none~0|+|none~0|none~1|+|skip_connect~0|none~1|none~2|")
    # the same computation written with other operations on dead edges (no path from them to the output)
    dead_edges = nb201.from_string("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|none~2|")
    disconnected = nb201.smallest()
    D = nb201.descriptors(np.stack([identity, dead_edges, disconnected, nb201.largest()]))
    assert D.shape == (4, 12) and D.min() >= 0.0 and D.max() <= 1.0
    np.testing.assert_array_equal(D[0], D[1])
    assert D[0][0] == 0.25 and D[0][1] == pytest.approx(1 / 6) and D[0][7] == 1.0  # one live path, one skip
    np.testing.assert_array_equal(D[2], np.zeros(12))  # nothing reaches the output
    assert D[3][:8].tolist() == [1.0, 0, 0, 0, 1.0, 1.0, 1.0, 1.0]  # all paths live, all 3x3 convs, depth 3
    everything = nb201.descriptors(nb201.encoding.enumerate())
    assert len(np.unique(everything, axis=0)) < len(everything) / 5  # dead edges: many genomes share descriptors
