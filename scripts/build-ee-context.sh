#!/usr/bin/env bash
# The build context of the execution environment (execution-environment.yml, ansible-builder v3).
# usage: scripts/build-ee-context.sh CONTEXTDIR [COLLECTION_TARBALL]
#   Without a tarball, builds the collection first (scripts/build-collection.sh). Needs ansible-builder on PATH
#   (pip install ansible-builder). Fails unless CONTEXTDIR/Containerfile installs the collection's tarball.
#   Building the image from it (podman build CONTEXTDIR) needs the base image from a container registry.
set -euo pipefail
cd "$(dirname "$0")/.."
context=${1:?usage: scripts/build-ee-context.sh CONTEXTDIR [COLLECTION_TARBALL]}
def=$(mktemp -d)
trap 'rm -rf "$def"' EXIT
mkdir -p "$def/dist"
tarball=${2:-$(bash scripts/build-collection.sh "$def/dist")}
[[ $tarball -ef $def/dist/$(basename "$tarball") ]] || cp "$tarball" "$def/dist/"
cp execution-environment.yml "$def/"
rm -rf "$context"
ansible-builder create -f "$def/execution-environment.yml" -c "$context" --output-filename Containerfile
[[ -f $context/_build/collections/$(basename "$tarball") ]] ||
  { echo "build-ee-context: the collection tarball is not in $context/_build/collections" >&2; exit 1; }
grep -q "collection install --offline .*/build/collections/otorchestrator-ot-" "$context/Containerfile" ||
  { echo "build-ee-context: $context/Containerfile does not install the collection" >&2; exit 1; }
echo "$context"
