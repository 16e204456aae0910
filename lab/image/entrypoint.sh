#!/bin/sh
# PID 2 of every lab host (catatonit from `podman run --init` is PID 1 and reaps orphans).
# Start every installed Northwind Controls service, then become sshd in the foreground.
mkdir -p /run/sshd /var/log/nwc
for svc in /etc/init.d/nwc-*; do
  [ -x "$svc" ] || continue
  "$svc" start || echo "otlab-entrypoint: $svc start failed" >&2
done
exec /usr/sbin/sshd -D -e
