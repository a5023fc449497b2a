# Set-up and everyday tasks. Every target creates the virtual environment first if needed.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
TABLE ?= ../shared/data/nats_tss_cifar10.csv

.PHONY: setup demo test bench lint

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[test]"
	touch $@

setup: $(VENV)/.installed

# The main job: NSGANetV1 on the NAS-Bench-201 CIFAR-10 table (re-running it resumes or reprints).
demo: setup
	$(BIN)/nsganet search --space nb201 --table $(TABLE) --metric cifar10_test_acc_200ep \
		--objectives error,flops --strategy nsganetv1 --budget 300 --seed 0 --out runs/demo --resume

test: setup
	$(BIN)/python -m pytest -q

bench: setup
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[bench]"
	$(BIN)/python benchmarks/nb201_strategies.py

lint: setup
	$(BIN)/ruff check src tests benchmarks
