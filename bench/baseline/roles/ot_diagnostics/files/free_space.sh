#!/bin/bash
# Read-only: free MiB on the filesystem holding each path (walking up to the nearest existing parent).
# usage: free_space.sh PATH...   -> one JSON object per line
set -o pipefail
for p in "$@"; do
  q="$p"
  while [ ! -e "$q" ]; do q=$(dirname "$q"); done
  read -r free mount < <(df -P -m "$q" | awk 'NR==2 {print $4" "$6}')
  printf '{"path": "%s", "mount": "%s", "free_mb": %s}\n' "$p" "$mount" "${free:-0}"
done
