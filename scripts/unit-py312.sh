#!/usr/bin/env bash
# The unit suite against the second ansible-core pin: ansible-core 2.20 needs Python 3.12 on the controller,
# so it runs in its own venv (.cache/venv-py312, rebuilt when pyproject.toml changes) when this machine has a
# Python 3.12 (/usr/bin, /usr/local/bin or pyenv); without one it says so and exits 0 (nothing to test with).
# usage: scripts/unit-py312.sh [pytest args]     (default: -q tests/unit)
set -euo pipefail
cd "$(dirname "$0")/.."
py=""
for candidate in /usr/bin/python3.12 /usr/local/bin/python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python3.12; do
  if [[ -x $candidate ]] && "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 12)' 2>/dev/null; then
    py=$candidate; break
  fi
done
if [[ -z $py ]]; then
  echo "[unit-py312] no Python 3.12 on this machine: the unit suite ran against ansible-core 2.19 (Python 3.11) only"
  exit 0
fi
venv=.cache/venv-py312
stamp=$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -x $venv/bin/python || "$(cat $venv/.stamp 2>/dev/null)" != "$stamp" ]]; then
  echo "[unit-py312] venv with $py (about 1 min)"
  rm -rf "$venv" && "$py" -m venv "$venv"
  "$venv/bin/pip" install --progress-bar off -q -e ".[mitogen]" pytest pytest-timeout hypothesis rfc8785 xmlschema jsonschema 2>&1 |
    { grep -v '^WARNING: Location' || true; }
  echo "$stamp" > "$venv/.stamp"
fi
version=$("$venv/bin/python" -c 'import ansible.release as r; print(r.__version__)')
[[ $version == 2.20.* ]] || { echo "[unit-py312] expected ansible-core 2.20.x in $venv, found $version"; exit 1; }
echo "[unit-py312] unit suite on Python $("$venv/bin/python" -c 'import platform; print(platform.python_version())'), ansible-core $version"
((${#})) || set -- -q tests/unit
PATH="$PWD/$venv/bin:$PATH" exec "$venv/bin/python" -m pytest -p no:cacheprovider "$@"
