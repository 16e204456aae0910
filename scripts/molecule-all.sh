#!/usr/bin/env bash
# Run every Molecule scenario (one per role, e2e_rollback, e2e_rollback_mitogen) on the lab image (podman); the shared
# configuration is .config/molecule/config.yml. OTORCH_MOLECULE_JOBS scenarios run at once (default 2: each
# has its own container and ephemeral directory); each one's output goes to out/molecule/<scenario>.log, its
# time is printed, and a failed scenario's log tail. usage: scripts/molecule-all.sh [scenario ...]
# (default: all; needs root podman, see scripts/bootstrap.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
if [[ -z ${OTORCH_LAB_IMAGE:-} ]]; then
  otorch lab build >/dev/null            # image + signed repositories (cached by recipe hash)
  OTORCH_LAB_IMAGE=$(lab/image/build-image.sh --tag-only)
fi
export OTORCH_LAB_IMAGE
# container names: <prefix>-<scenario> (.config/molecule/config.yml); the prefix follows the lab's name, so
# two checkouts with their own labs can run the same scenario at once, and never meets a lab container
export OTORCH_MOLECULE_PREFIX=${OTORCH_MOLECULE_PREFIX:-mol${OTORCH_LAB_NAME:-otlab}}
# e2e_rollback_mitogen runs under the Mitogen strategy with the settings the engine's `--transport mitogen` sets
# (otorchestrator/execution/jobenv.py transport_env); empty when Mitogen cannot run here, so that scenario fails
# and says why while the others run
eval "$(python - <<'PY' 2>/dev/null || true
import os, shlex
from otorchestrator.execution.jobenv import transport_env
env = transport_env("mitogen", os.environ)
print("export OTMOL_MITOGEN_STRATEGY=%s" % shlex.quote(env["ANSIBLE_STRATEGY"]))
print("export OTMOL_MITOGEN_STRATEGY_PLUGINS=%s" % shlex.quote(env["ANSIBLE_STRATEGY_PLUGINS"]))
PY
)"
scenarios=("$@")
# the longest first, so that two at a time finish close together
((${#scenarios[@]})) || scenarios=(e2e_rollback e2e_rollback_mitogen ot_diagnostics ot_scan ot_rollback ot_backup ot_verify ot_patch)
jobs=${OTORCH_MOLECULE_JOBS:-2}
logs=out/molecule
mkdir -p "$logs"
declare -A name_of=() started=()
failed=()

finish() {  # wait for one scenario to end and report it
  local pid rc=0
  wait -n -p pid || rc=$?
  local s=${name_of[$pid]}
  unset "name_of[$pid]"
  if ((rc == 0)); then echo "[molecule] $s: passed ($((SECONDS - started[$s])) s)"
  else
    echo "[molecule] $s: FAILED ($((SECONDS - started[$s])) s); last lines of $logs/$s.log:"
    tail -n 40 "$logs/$s.log" | sed 's/^/  | /'
    failed+=("$s")
  fi
}

echo "[molecule] ${#scenarios[@]} scenario(s), $jobs at a time, logs in $logs/"
for s in "${scenarios[@]}"; do
  while ((${#name_of[@]} >= jobs)); do finish; done
  started[$s]=$SECONDS
  molecule test -s "$s" >"$logs/$s.log" 2>&1 &
  name_of[$!]=$s
  echo "[molecule] $s: started"
done
while ((${#name_of[@]})); do finish; done
((${#failed[@]} == 0)) || { echo "[molecule] failed: ${failed[*]} (${SECONDS} s in all)"; exit 1; }
echo "[molecule] all ${#scenarios[@]} scenario(s) passed in ${SECONDS} s"
