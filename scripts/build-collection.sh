#!/usr/bin/env bash
# Build the Ansible collection otorchestrator.ot from the checkout's roles/ and playbooks/ (one copy in git).
# usage: scripts/build-collection.sh OUTDIR [STAGEDIR]
#   Assembles STAGEDIR (default: a temp dir) from collection/ (galaxy.yml, meta/runtime.yml, README.md),
#   roles/, playbooks/ (role and playbook references rewritten to FQCN otorchestrator.ot.*), LICENSE and
#   CHANGELOG.md, then `ansible-galaxy collection build` writes OUTDIR/otorchestrator-ot-<version>.tar.gz.
#   Prints the tarball's path last. Fails when a playbook still names a role or playbook without its FQCN.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: scripts/build-collection.sh OUTDIR [STAGEDIR]}
stage=${2:-$(mktemp -d)/otorchestrator.ot}
fqcn=otorchestrator.ot
mkdir -p "$out"
out=$(cd "$out" && pwd)
rm -rf "$stage"; mkdir -p "$stage/playbooks" "$stage/docs"

cp collection/galaxy.yml collection/README.md LICENSE CHANGELOG.md "$stage/"
cp -r collection/meta "$stage/meta"
cp -r roles "$stage/roles"
find "$stage/roles" \( -name __pycache__ -o -name '*.retry' \) -prune -exec rm -rf {} +
# collection roles get no role plugin dirs: the roles' library/ modules and action_plugins/ and ot_common's
# module_utils become the collection's plugins (imports and task actions rewritten to otorchestrator.ot.*)
mkdir -p "$stage/plugins/modules" "$stage/plugins/module_utils" "$stage/plugins/action"
mods=$(cd roles && ls */library/*.py */action_plugins/*.py 2>/dev/null | xargs -rn1 basename | sed 's/\.py$//' | paste -sd'|')
utils=$(cd roles/ot_common/module_utils && ls *.py | sed 's/\.py$//' | paste -sd'|')
for m in roles/*/library/*.py roles/ot_common/module_utils/*.py; do
  [[ -e $m ]] || continue
  case $m in */library/*) dest=$stage/plugins/modules ;; *) dest=$stage/plugins/module_utils ;; esac
  sed -E "s/^from ansible\.module_utils\.($utils) import/from ansible_collections.$fqcn.plugins.module_utils.\1 import/" \
    "$m" > "$dest/$(basename "$m")"
done
for a in roles/*/action_plugins/*.py; do  # collection roles load no role plugin dirs: every role's actions go here
  [[ -e $a ]] || continue
  cp "$a" "$stage/plugins/action/"
done
rm -rf "$stage"/roles/*/library "$stage"/roles/*/module_utils "$stage"/roles/*/action_plugins
if [[ -n $mods ]]; then
  find "$stage/roles" -name '*.yml' -exec sed -E -i "s/^([[:space:]]*-?[[:space:]]*)($mods):[[:space:]]*\$/\1$fqcn.\2:/" {} +
fi
cp playbooks/README.md "$stage/docs/playbooks.md"
roles=$(cd roles && ls -d ot_* | paste -sd'|')
for pb in playbooks/*.yml; do
  # `- role: ot_x`, `include_role: {name: ot_x}` -> otorchestrator.ot.ot_x; `import_playbook: x.yml` -> otorchestrator.ot.x
  sed -E \
    -e "s/^([[:space:]]*(- )?role: )($roles)[[:space:]]*\$/\1$fqcn.\3/" \
    -e "s/^([[:space:]]*name: )($roles)[[:space:]]*\$/\1$fqcn.\2/" \
    -e "s/^([[:space:]]*ansible\.builtin\.import_playbook: )([a-z_]+)\.yml[[:space:]]*\$/\1$fqcn.\2/" \
    "$pb" > "$stage/playbooks/$(basename "$pb")"
done
if left=$(grep -nE "^[[:space:]]*((- )?role|name): ($roles)[[:space:]]*\$|import_playbook: [^ ]+\.yml" "$stage"/playbooks/*.yml); then
  echo "build-collection: references without the FQCN $fqcn left in the playbooks:" >&2
  echo "$left" >&2
  exit 1
fi
ansible-galaxy collection build --force --output-path "$out" "$stage" >&2
version=$(sed -nE 's/^version: *"?([^" ]+)"?.*/\1/p' collection/galaxy.yml)
echo "$out/otorchestrator-ot-$version.tar.gz"
