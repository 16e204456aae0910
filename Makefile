# otorchestrator: the two commands of the README, and their parts.
#   make demo   the main job: install what is missing, start the lab, run the demo rollout
#   make test   the whole test suite: lint, unit (also on Python 3.12 / ansible-core 2.20), integration, every Molecule scenario
SHELL := /bin/bash
VENV  := .venv
BIN   := $(CURDIR)/$(VENV)/bin
export PATH := $(BIN):$(PATH)
# the project's ansible.cfg unless the caller names its own (otorch itself honours the site's: docs/execution.md)
export ANSIBLE_CONFIG ?= $(CURDIR)/ansible.cfg
export ANSIBLE_COLLECTIONS_PATH := $(CURDIR)/.collections
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: demo test bootstrap lab-up lab-down lint unit integration molecule molecule-all bench clean

demo: bootstrap lab-up
	otorch demo

test: bootstrap lint lab-up
	bash scripts/run-tests.sh

bootstrap:
	@bash scripts/bootstrap.sh

lab-up: bootstrap
	otorch lab up

lab-down:
	otorch lab down

lint: bootstrap
	@echo "[lint] 1/3 ruff"; ruff check otorchestrator tests bench
	@echo "[lint] 2/3 mypy"; mypy
	@echo "[lint] 3/3 ansible-lint (production profile; about 1.5 min)"; bash scripts/lint.sh

unit: bootstrap
	pytest tests/unit -q

integration: bootstrap lab-up
	pytest tests/integration -q

molecule: bootstrap
	bash scripts/molecule-all.sh e2e_rollback

molecule-all: bootstrap
	bash scripts/molecule-all.sh

bench: bootstrap lab-up
	python bench/plan_scale.py
	python bench/wave_overhead.py && python bench/wave_speed.py --sizes 1,4,8 --reps 2

clean:
	-otorch lab down
	rm -rf .otorch out
