#!/usr/bin/env bash
# The test suite behind `make test`: pytest over unit and integration tests (the lab must be up),
# then the unit suite on Python 3.12 / ansible-core 2.20 (where a 3.12 exists), every Molecule scenario,
# then the package test (scripts/test-package.sh).
# Fails on any failure; "no tests collected" is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
mkdir -p out
rc=0
# -v: one line per test with its name and the percentage done (a 15-minute run shows where it is)
pytest tests -v --durations=15 --junitxml=out/pytest-junit.xml || rc=$?
if [[ $rc -eq 5 ]]; then echo "pytest collected no tests: that is a failure"; exit 1; fi
[[ $rc -eq 0 ]] || { echo "pytest failed (exit $rc)"; exit "$rc"; }
bash scripts/unit-py312.sh || { echo "unit suite on Python 3.12 / ansible-core 2.20 failed"; exit 1; }
bash scripts/molecule-all.sh || { echo "molecule failed"; exit 1; }  # every scenario, 2 at a time
# the wheel and the collection built, installed outside the checkout and run against the lab (about 4-8 min)
bash scripts/test-package.sh || { echo "package test (scripts/test-package.sh) failed"; exit 1; }
echo "all tests passed"
