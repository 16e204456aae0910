#!/usr/bin/env bash
# ansible-lint (with its yamllint rules) over the roles, playbooks and Molecule scenarios.
# usage: scripts/lint.sh [ansible-lint args]   (profile: production, see .ansible-lint)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections" ANSIBLE_ROLES_PATH="$PWD/roles"
exec ansible-lint --profile production "$@" roles playbooks molecule
