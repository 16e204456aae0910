#!/bin/bash
# Read-only: is any dpkg/apt lock file held (POSIX lock listed in /proc/locks)? Never takes a lock itself.
# usage: dpkg_lock.sh LOCKFILE...   -> one JSON object on stdout
held=()
for f in "$@"; do
  [ -e "$f" ] || continue
  ino=$(stat -c %i "$f")
  if grep -Eq "[0-9a-f]+:[0-9a-f]+:${ino} " /proc/locks; then held+=("\"$f\""); fi
done
holders=$(ps -eo pid=,comm= 2>/dev/null | awk '$2 ~ /^(apt|apt-get|dpkg|aptitude|unattended-upgr)$/ {printf "%s%s", sep, $1; sep=","}')
printf '{"held": [%s], "processes": "%s"}\n' "$(IFS=,; echo "${held[*]}")" "$holders"
