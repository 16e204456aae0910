#!/usr/bin/env bash
# Run every Molecule scenario (one per role + e2e_rollback) on the lab image, podman driver.
# usage: scripts/molecule-all.sh [scenario ...]      (default: all; needs root podman, see scripts/bootstrap.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH" ANSIBLE_COLLECTIONS_PATH="$PWD/.collections"
if [[ -z ${OTORCH_LAB_IMAGE:-} ]]; then
  otorch lab build >/dev/null            # image + signed repositories (cached by recipe hash)
  OTORCH_LAB_IMAGE=$(lab/image/build-image.sh --tag-only)
fi
export OTORCH_LAB_IMAGE
scenarios=("$@")
((${#scenarios[@]})) || scenarios=(ot_scan ot_diagnostics ot_backup ot_patch ot_verify ot_rollback e2e_rollback)
failed=()
for s in "${scenarios[@]}"; do
  start=$SECONDS
  if molecule test -s "$s"; then echo "[molecule] $s: passed ($((SECONDS - start)) s)"
  else echo "[molecule] $s: FAILED ($((SECONDS - start)) s)"; failed+=("$s"); fi
done
((${#failed[@]} == 0)) || { echo "[molecule] failed: ${failed[*]}"; exit 1; }
echo "[molecule] all ${#scenarios[@]} scenario(s) passed"
