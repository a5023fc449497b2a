# Set-up and everyday tasks. Every target creates the virtual environment first if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TABLE ?= ../shared/data/nats_tss_cifar10.csv

.PHONY: setup browser demo demo-table test bench lint docs

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	$(BIN)/python -m pip install --quiet --no-deps -c constraints.txt ofa mlxtend
	touch $@

setup: $(VENV)/.installed

# Headless Chromium (Debian's package) renders the report page in the tests; without it that test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
		SUDO=$$( [ "$$(id -u)" -eq 0 ] || echo "sudo -n" ); \
		$$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
		{ $$SUDO apt-get update -qq >/dev/null 2>&1 && \
		  $$SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1; } || \
		echo "chromium could not be installed: the report rendering test will be skipped"; }

# The main job: NSGANetV1 on the micro space, training each architecture on the embedded digits
# (about 7 minutes on 2 cores; re-running it resumes or reprints the result).
demo: setup
	$(BIN)/nsganet search --out runs/demo --resume

# NSGANetV1 on the NAS-Bench-201 CIFAR-10 table: accuracies are looked up, so it takes seconds.
demo-table: setup
	$(BIN)/nsganet search --space nb201 --table $(TABLE) --metric cifar10_test_acc_200ep \
		--objectives error,flops --strategy nsganetv1 --budget 300 --pop-size 40 --seed 0 --out runs/demo-table --resume

test: setup browser
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(BIN)/python benchmarks/nb201_strategies.py --out benchmarks/results/nb201_2obj \
		--strategies random,nsga2,nsganetv1,nsganetv2,nsganetv2-v1.0,pymoo-nsga2,optuna-nsga2,optuna-tpe,optuna-gp
	$(BIN)/python benchmarks/nb201_strategies.py --budgets 100,300 --out benchmarks/results/nsganetv2_ablation \
		--strategies nsganetv2,nsganetv2-onehot,nsganetv2-kappa0,nsganetv2-bag5,nsganetv2-nsga2,nsganetv2-randdoe,nsganetv2-mlp,nsganetv2-gp
	$(BIN)/python benchmarks/nb201_strategies.py --objectives error,flops,latency --budgets 50,100,200 \
		--out benchmarks/results/nb201_3obj --strategies random,nsga2,nsganetv1,nsganetv2,optuna-nsga2,optuna-tpe,optuna-gp
	$(BIN)/python benchmarks/nb201_strategies.py --seeds 30 --budgets 300,1000 --out benchmarks/results/ablation \
		--strategies random,nsga2,nsganetv1,nsganetv1-nobn,nsganetv1-tau1/3,nsganetv1-tau9/10
	$(BIN)/python benchmarks/nb201_predictors.py --features structure,onehot
	$(BIN)/python benchmarks/nb201_constrained.py --seeds 10 --budgets 100,300 --workers 2
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/cluster_simulation.py
	$(BIN)/python benchmarks/supernet_inheritance.py
	$(BIN)/python benchmarks/trainer_throughput.py
	$(BIN)/python benchmarks/trainer_throughput.py --recipe --images 2048 --rounds 3
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/latency_lut.py
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/latency_lut.py --preset imagenet
	OMP_NUM_THREADS=1 $(BIN)/python benchmarks/end_to_end.py
	$(BIN)/python benchmarks/ray_scaling.py

lint: setup
	$(BIN)/ruff check src tests benchmarks

# The documentation site (mkdocs.yml, docs/) into site/: the pages, the Python API from the docstrings and the
# command-line reference from the parser; `.venv/bin/mkdocs serve` serves it while you edit.
docs: setup
	$(BIN)/python -m mkdocs build --strict --site-dir site
