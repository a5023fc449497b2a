import numpy as np
import pytest
import torch
from conftest import METRIC

import nsganet
from nsganet.costs.model import CostModel
from nsganet.errors import ConfigError
from nsganet.search.objectives import parse_objectives
from nsganet.spaces import SearchSpace, get_space
from nsganet.spaces.base import Encoding
from nsganet.strategies import STRATEGIES


@pytest.mark.parametrize("input_size, num_classes, flops, params", [
    (32, 10, (7.78, 220.11), (0.073, 1.53)),   # NAS-Bench-201 CIFAR-10
    (16, 120, (1.95, 55.04), (0.080, 1.54)),   # NAS-Bench-201 ImageNet16-120
])
def test_nb201_cost_ranges_match_published(input_size, num_classes, flops, params):
    model = CostModel(get_space("nb201"), num_classes=num_classes, input_size=input_size)
    bounds = model.bounds()
    # published figures are truncated / rounded to two decimals
    assert bounds["flops"][0] == pytest.approx(flops[0], abs=0.01)
    assert bounds["flops"][1] == pytest.approx(flops[1], abs=0.01)
    assert bounds["params"][0] == pytest.approx(params[0], abs=0.001)
    assert bounds["params"][1] == pytest.approx(params[1], abs=0.01)


class _OneConv(SearchSpace):
    """A toy space whose network is one convolution and one linear layer."""

    name = "oneconv"

    def __init__(self):
        self.encoding = Encoding(np.array([1]), np.array([4]), units=((0,),))

    def to_string(self, genome):
        return f"c{int(genome[0])}"

    def from_string(self, text):
        return np.array([int(text[1:])])

    def build(self, genome, num_classes=10, input_size=32, in_channels=3, **options):
        width = int(genome[0])
        return torch.nn.Sequential(torch.nn.Conv2d(in_channels, width, 3, padding=1, bias=False),
                                   torch.nn.Flatten(), torch.nn.Linear(width * input_size ** 2, num_classes))


def test_flops_are_multiply_accumulates_and_params_are_counted():
    model = CostModel(_OneConv(), num_classes=5, input_size=8, in_channels=3)
    values = model.measure(np.array([4]))
    conv_macs = 3 * 4 * 9 * 8 * 8
    linear_macs = 4 * 8 * 8 * 5
    assert values["flops"] == pytest.approx((conv_macs + linear_macs) / 1e6)
    assert values["params"] == pytest.approx((3 * 4 * 9 + 4 * 64 * 5 + 5) / 1e6)


def test_costs_are_cached_per_architecture(monkeypatch):
    model = CostModel(_OneConv())
    calls = []
    original = model._measure
    monkeypatch.setattr(model, "_measure", lambda g: calls.append(1) or original(g))
    first = model.measure(np.array([2]))
    assert model.measure(np.array([2])) == first
    assert len(calls) == 1


@pytest.mark.parametrize("names, fragment", [
    ("error,error", "twice"), ("error,speed", "unknown objective"), ("", "non-empty"),
])
def test_bad_objective_lists(names, fragment):
    with pytest.raises(ConfigError, match=fragment):
        parse_objectives(names)


def test_custom_objectives_only_when_allowed():
    assert parse_objectives("error,ops", allow_custom=True) == ["error", "ops"]


@pytest.mark.parametrize("shape, options", [
    ({"num_classes": 10, "input_size": 32}, {}),
    ({"num_classes": 120, "input_size": 16, "in_channels": 1}, {"channels": 8, "cells_per_stage": 1}),
])
def test_nb201_closed_form_costs_equal_counted_costs(shape, options):
    space = get_space("nb201")
    model = CostModel(space, build_options=options, **shape)
    genomes = [space.smallest(), space.largest(), *space.sample(np.random.default_rng(0), 12)]
    for genome in genomes:
        analytic, counted = space.analytic_costs(genome, **shape, **options), model.count(genome)
        assert analytic["flops"] == pytest.approx(counted["flops"], rel=1e-12)
        assert analytic["params"] == pytest.approx(counted["params"], rel=1e-12)
        assert model.measure(genome) == analytic  # the cost model takes the closed form


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_single_objective_search(strategy, nb201_table, nb201_accuracy, tmp_path):
    """V1 supplement G.1: ``--objectives error`` searches accuracy alone with every strategy."""
    result = nsganet.search(space="nb201", strategy=strategy, objectives=["error"], table=str(nb201_table),
                            metric=METRIC, budget=40, pop_size=10, seed=1, out=tmp_path / "run", progress=False)
    errors = [e.objectives["error"] for e in result.evaluations]
    assert len(errors) == 40 and list(result.objectives) == ["error"]
    assert {e.objectives["error"] for e in result.front} == {min(errors)}  # the front: the best (and its ties)
    assert result.hypervolume == pytest.approx(1 - min(errors) / 100)
    assert all(100 - nb201_accuracy[e.arch] == pytest.approx(e.objectives["error"]) for e in result.evaluations)
    assert (tmp_path / "run" / "front.png").stat().st_size > 0
