#!/bin/bash
# Runs INSIDE a lab host (podman exec -i HOST bash -s -- ARGS < lab/provision-host.sh), once after creation.
# Brings the host to the lab baseline: lab key for root, the signed Northwind repository as the only apt
# source, the host's products at their baseline version, the host's lab knobs.
#
# args: PUBKEY KEYRING_BASE64 KNOBS(comma separated or -) PACKAGE=VERSION...
set -euo pipefail
pubkey=$1 keyring_b64=$2 knobs=$3
shift 3
export DEBIAN_FRONTEND=noninteractive

install -d -m 0700 /root/.ssh
printf '%s\n' "$pubkey" >/root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys

install -d -m 0755 /etc/apt/keyrings
printf '%s' "$keyring_b64" | base64 -d >/etc/apt/keyrings/nwc-archive.gpg
chmod 0644 /etc/apt/keyrings/nwc-archive.gpg
rm -f /etc/apt/sources.list /etc/apt/sources.list.d/*
echo 'deb [signed-by=/etc/apt/keyrings/nwc-archive.gpg] file:/srv/nwc-repo ./' >/etc/apt/sources.list.d/nwc.list

install -d -m 0755 /etc/nwc/lab-knobs
for knob in ${knobs//,/ }; do
  case $knob in
    -) ;;
    leave_telemetry) touch /etc/nwc/lab-knobs/leave-telemetry ;;
    nearly_full_disk) touch /etc/nwc/lab-knobs/nearly-full-disk ;;
    *) echo "provision: unknown lab knob '$knob'" >&2; exit 2 ;;
  esac
done

apt-get update -qq -o APT::Update::Error-Mode=any
if (($#)); then
  apt-get install -y -qq --allow-downgrades -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
    "$@" >/dev/null
fi

if [[ -e /etc/nwc/lab-knobs/nearly-full-disk ]]; then
  # /opt/nwc is a small tmpfs (podman --tmpfs); leave about 1.5 MiB free after the baseline install
  avail_kib=$(df -k --output=avail /opt/nwc | tail -1 | tr -d ' ')
  fill_kib=$((avail_kib - 1536))
  if ((fill_kib > 0)); then
    dd if=/dev/zero of=/opt/nwc/.lab-filler bs=1024 count="$fill_kib" status=none
  fi
fi
date -u +%Y-%m-%dT%H:%M:%SZ >/etc/otlab-provisioned
