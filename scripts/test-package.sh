#!/usr/bin/env bash
# The package test of CI (called by scripts/run-tests.sh): what a site gets from the wheel and the collection,
# installed outside the checkout, run against the lab.
#   1. a tools venv (temp dir) with `build` and `ansible-builder` from PyPI;
#   2. python -m build: sdist, then the wheel from the sdist (setup.py copies playbooks/roles/ansible.cfg in);
#   3. a clean venv in a temp dir, `pip install` of the wheel alone (dependencies from PyPI);
#   4. the collection otorchestrator.ot: built with that venv's ansible-galaxy (scripts/build-collection.sh),
#      installed from the tarball into a temp collections path (its dependencies ansible.utils/ansible.windows
#      unpacked from the `ansible` wheel, as scripts/bootstrap.sh does: Galaxy is unreachable here);
#   5. from a temp working directory, with none of the checkout on PATH/PYTHONPATH/ANSIBLE_*:
#      otorch inventory validate, plan, waves, run --check (the canary wave) -> every host succeeded;
#      otorch scan through the collection's FQCN playbook (OTORCH_ANSIBLE_COLLECTION) and
#      ansible-playbook otorchestrator.ot.diagnostics --check (a plain AWX-style job);
#   6. ansible-builder create of execution-environment.yml (scripts/build-ee-context.sh).
# Needs the lab (`otorch lab up` is run first; it is a no-op when the lab is up) and network access to PyPI.
# OTORCH_PACKAGE_KEEP=1 keeps the temp dir. Exit 0 only when every step did what it should.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
t0=$SECONDS
say() { printf '[package %3ds] %s\n' "$((SECONDS - t0))" "$*"; }
fail() { say "FAILED: $*" >&2; exit 1; }
# pip and the venvs see nothing of the checkout (a PYTHONPATH to it would make pip skip the wheel)
quiet_pip() { env -u PYTHONPATH -u VIRTUAL_ENV "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }

tmp=$(mktemp -d /tmp/otorch-package.XXXXXX)
if [[ ${OTORCH_PACKAGE_KEEP:-} == 1 ]]; then trap 'say "kept $tmp"' EXIT; else trap 'rm -rf "$tmp"' EXIT; fi
checkout_otorch=$(command -v otorch) || fail "no otorch of the checkout on PATH (scripts/bootstrap.sh)"
py=$(command -v python3)
lab_env=(OTORCH_LAB_NAME="${OTORCH_LAB_NAME:-}" OTORCH_LAB_PORT_OFFSET="${OTORCH_LAB_PORT_OFFSET:-0}")
canary=(nw-hmi-02 nw-gw-01 nw-ews-01)

say "lab: up, canary hosts at their baseline (${canary[*]})"
"$checkout_otorch" lab up --hosts 8 | tail -1
python - "${canary[@]}" <<'EOF'
import sys

from otorchestrator.lab.config import LabConfig
from otorchestrator.lab.handle import LabHandle

reset = LabHandle.for_config(LabConfig.from_env()).ensure_baseline(*sys.argv[1:], progress=print)
print(f"reset to the baseline: {', '.join(reset) or 'none needed'}")
EOF

say "tools venv: build, ansible-builder (PyPI)"
(cd "$tmp" && env -u PYTHONPATH "$py" -m venv tools)
quiet_pip "$tmp/tools/bin/pip" install -q --progress-bar off build ansible-builder

say "build: sdist and wheel (python -m build)"
env -u PYTHONPATH "$tmp/tools/bin/python" -m build --outdir "$tmp/dist" . > "$tmp/build.log" 2>&1 || { tail -30 "$tmp/build.log"; fail "python -m build"; }
wheel=$(ls "$tmp"/dist/otorchestrator-*-py3-none-any.whl)
listing=$("$py" -m zipfile -l "$wheel")
for member in otorchestrator/py.typed otorchestrator/ansible_content/ansible.cfg \
  otorchestrator/ansible_content/playbooks/install.yml otorchestrator/ansible_content/roles/ot_patch/tasks/main.yml \
  'otorchestrator-[^/]*.dist-info/licenses/LICENSE'; do
  grep -qE "^$member " <<<"$listing" || fail "$(basename "$wheel") has no $member"
done
say "built $(basename "$wheel") ($(du -k "$wheel" | cut -f1) KB, $(grep -c ansible_content/ <<<"$listing") content files)"

say "clean venv outside the checkout: pip install the wheel"
(cd "$tmp" && env -u PYTHONPATH "$py" -m venv venv)
quiet_pip "$tmp/venv/bin/pip" install -q --progress-bar off "$wheel"

# Everything from here runs with the clean venv only: no checkout on PATH or PYTHONPATH, no ANSIBLE_* of CI.
clean=(env -i HOME="$HOME" LANG=C.UTF-8 PATH="$tmp/venv/bin:/usr/local/bin:/usr/bin:/bin"
  ANSIBLE_COLLECTIONS_PATH="$tmp/collections" "${lab_env[@]}")

say "collection: build with the clean venv's ansible-galaxy, install from the tarball into $tmp/collections"
tarball=$("${clean[@]}" bash scripts/build-collection.sh "$tmp/dist" "$tmp/stage/otorchestrator.ot")
ansible_whl=$(ls "${XDG_CACHE_HOME:-$HOME/.cache}"/otorchestrator/ansible-*.whl 2>/dev/null | head -1 || true)
if [[ -z $ansible_whl ]]; then
  quiet_pip "$tmp/tools/bin/pip" download -q --no-deps -d "$tmp/ansible-wheel" "ansible==12.3.0"
  ansible_whl=$(ls "$tmp"/ansible-wheel/ansible-*.whl)
fi
mkdir -p "$tmp/collections" "$tmp/work"
(cd "$tmp/collections" && unzip -q "$ansible_whl" 'ansible_collections/ansible/utils/*' 'ansible_collections/ansible/windows/*')
(cd "$tmp/work" && "${clean[@]}" ansible-galaxy collection install --offline -p "$tmp/collections" "$tarball")
[[ -f $tmp/collections/ansible_collections/otorchestrator/ot/playbooks/scan.yml ]] || fail "collection not installed"

cd "$tmp/work"
inv=$checkout/inventories/lab
say "where the installed otorch finds its content"
"${clean[@]}" python - "$tmp/venv" <<'EOF'
import sys
from pathlib import Path

import otorchestrator
from otorchestrator.resources import ansible_content

content = ansible_content()
venv = Path(sys.argv[1]).resolve()
print(f"otorchestrator {otorchestrator.__version__} from {Path(otorchestrator.__file__).parent}")
print(f"content: {content.origin} {content.root}")
assert content.origin == "package" and venv in content.root.parents, content
assert Path(content.playbook("install")).is_file()
EOF

say "otorch inventory validate / plan / waves (installed wheel)"
"${clean[@]}" otorch inventory validate -i "$inv" > validate.txt || { cat validate.txt; fail "inventory validate"; }
"${clean[@]}" otorch plan -i "$inv" --advisories "$inv/advisories" --kev "$inv/kev.json" \
  --catalog "$inv/catalog.yml" --exemptions "$inv/exemptions.yml" -o plan.json > plan.txt ||
  { cat plan.txt; fail "otorch plan"; }
tail -1 plan.txt
"${clean[@]}" otorch waves plan.json --policy "$inv/policy.yml" -i "$inv" -o waves.json > waves.txt ||
  { cat waves.txt; fail "otorch waves"; }
tail -2 waves.txt

say "otorch run --check --wave 0 (the canary wave, check mode, the wheel's playbooks)"
rc=0
"${clean[@]}" otorch run waves.json --check --wave 0 --yes --operator ci --state-dir state \
  --artifacts "$checkout/.lab/repo/main" > run.txt 2>&1 || rc=$?
tail -20 run.txt
[[ $rc -eq 0 ]] || fail "otorch run --check exited $rc"
"${clean[@]}" otorch status --state-dir state --json > status.json
"${clean[@]}" python - "$tmp/venv" "${canary[@]}" <<'EOF'
import json
import sys
from pathlib import Path

status = json.loads(Path("status.json").read_text())
states = {h["host"]: h["state"] for h in status["hosts"] if h["wave"] == 0}
assert status["run"]["check_mode"] and states == dict.fromkeys(sys.argv[2:], "succeeded"), status
# the phases ran the wheel's playbooks, not the checkout's
playbooks = {
    json.loads(f.read_text())["event_data"].get("playbook")
    for f in Path("state/runner").glob("*/artifacts/run/job_events/*.json")
}
playbooks.discard(None)
package = str(Path(sys.argv[1]).resolve())
assert playbooks and all(p.startswith(package) for p in playbooks), playbooks
print(f"check-mode canary: {states}; playbooks from {package}")
EOF

say "otorch scan through the installed collection (OTORCH_ANSIBLE_COLLECTION=otorchestrator.ot)"
"${clean[@]}" OTORCH_ANSIBLE_COLLECTION=otorchestrator.ot otorch scan -i "$inv" --limit nw-hmi-01 \
  --operator ci --state-dir scan-state > scan.txt 2>&1 || { cat scan.txt; fail "otorch scan via the collection"; }
cat scan.txt
grep -rqs "ansible_collections/otorchestrator/ot/roles/ot_scan/tasks" scan-state/runner/*/artifacts/run/job_events ||
  fail "the scan did not run the collection's role"

say "ansible-playbook otorchestrator.ot.diagnostics --check (a plain job, as an AWX job template runs it)"
"${clean[@]}" ansible-playbook otorchestrator.ot.diagnostics -i "$inv" --limit nw-hmi-01 --check > diag.txt 2>&1 ||
  { tail -30 diag.txt; fail "ansible-playbook otorchestrator.ot.diagnostics"; }
grep -A2 "PLAY RECAP" diag.txt

say "execution environment: ansible-builder create"
cd "$checkout"
PATH="$tmp/tools/bin:$PATH" bash scripts/build-ee-context.sh "$tmp/ee-context" "$tarball" | tail -1
say "passed: wheel, collection and execution-environment context built; installed outside the checkout; run against the lab"
