#!/bin/bash
# Read-only: the mount points holding the installed files of each package (its install roots).
# usage: install_mounts.sh PACKAGE...   -> one JSON object per line {"package", "mount"}; nothing for a package
# that is not installed
set -o pipefail
for p in "$@"; do
  dpkg-query -L "$p" 2>/dev/null | while IFS= read -r f; do [ -f "$f" ] && printf '%s\n' "$f"; done \
    | xargs -r -d '\n' df -P 2>/dev/null | awk 'NR > 1 {print $6}' | sort -u \
    | while IFS= read -r m; do printf '{"package": "%s", "mount": "%s"}\n' "$p" "$m"; done
done
exit 0
