#!/usr/bin/env bash
# Build the lab host image: a Debian bookworm minbase tree (debootstrap) imported with `podman import`.
#
# usage: lab/image/build-image.sh            -> prints the image reference on stdout (last line)
#        lab/image/build-image.sh --tag-only -> prints the reference it would build, builds nothing
#
# Cached twice, both keyed by hashes of this recipe:
#   * the debootstrap tree (slow: ~4 min) under $OTORCH_LAB_CACHE (default /var/cache/otorchestrator),
#     keyed by packages.txt + suite + mirror;
#   * the image itself, tagged localhost/otorchestrator-lab:<hash of everything in lab/image/>.
# A second run with an unchanged recipe does nothing and takes well under a second.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
SUITE=bookworm
MIRROR=${OTORCH_LAB_MIRROR:-http://deb.debian.org/debian}
CACHE=${OTORCH_LAB_CACHE:-/var/cache/otorchestrator}
IMAGE_REPO=localhost/otorchestrator-lab
log() { printf '[lab image] %s\n' "$*" >&2; }

packages=$(grep -v '^\s*#' "$HERE/packages.txt" | grep -v '^\s*$' | sort | paste -sd, -)
tree_key=$(printf '%s|%s|%s|minbase' "$packages" "$SUITE" "$MIRROR" | sha256sum | cut -c1-12)
recipe_key=$(cd "$HERE" && { printf '%s\n' "$tree_key"; cat packages.txt build-image.sh entrypoint.sh sshd-otlab.conf; } \
  | sha256sum | cut -c1-12)
IMAGE="$IMAGE_REPO:$recipe_key"

if [[ ${1:-} == --tag-only ]]; then echo "$IMAGE"; exit 0; fi
if podman image exists "$IMAGE" 2>/dev/null; then
  log "image $IMAGE is up to date"
  echo "$IMAGE"; exit 0
fi

mkdir -p "$CACHE/debs"
tree="$CACHE/rootfs-$SUITE-$tree_key"
if [[ ! -f "$tree/.otorch-complete" ]]; then
  rm -rf "$tree" "$tree.tmp"
  log "debootstrap $SUITE (minbase + $packages) into $tree (first time: about 4 minutes)"
  start=$(date +%s)
  debootstrap --variant=minbase --include="$packages" --cache-dir="$CACHE/debs" \
    "$SUITE" "$tree.tmp" "$MIRROR" >"$CACHE/debootstrap-$tree_key.log" 2>&1 || {
      log "debootstrap failed, see $CACHE/debootstrap-$tree_key.log"; tail -20 "$CACHE/debootstrap-$tree_key.log" >&2; exit 1; }
  # keep the tree pristine: customisation happens on a copy below
  rm -rf "$tree.tmp/var/cache/apt/archives/"*.deb "$tree.tmp/var/lib/apt/lists/"* || true
  touch "$tree.tmp/.otorch-complete"
  mv "$tree.tmp" "$tree"
  log "debootstrap done in $(( $(date +%s) - start )) s"
else
  log "reusing cached debootstrap tree $tree"
fi

work=$(mktemp -d "$CACHE/image-XXXXXX")
trap 'rm -rf "$work"' EXIT
log "customising a copy of the tree"
cp -a "$tree/." "$work/"
rm -f "$work/.otorch-complete"
# no apt sources at all: the lab's only source (/etc/apt/sources.list.d/nwc.list) is written at provisioning
rm -f "$work/etc/apt/sources.list" "$work/etc/apt/sources.list.d/"*
mkdir -p "$work/etc/apt/keyrings" "$work/etc/nwc/lab-knobs" "$work/opt/nwc" "$work/var/log/nwc" \
  "$work/root/.ssh" "$work/run/sshd"
chmod 700 "$work/root/.ssh"
install -m 0755 "$HERE/entrypoint.sh" "$work/usr/local/sbin/otlab-entrypoint"
install -m 0644 "$HERE/sshd-otlab.conf" "$work/etc/ssh/sshd_config.d/otlab.conf"
# one set of host keys per image (lab only: host key checking is off for the lab inventory)
rm -f "$work/etc/ssh/ssh_host_"*
chroot "$work" ssh-keygen -A >/dev/null
# apt inside the hosts: quiet, no recommends, keep downloaded packages out of the way
cat >"$work/etc/apt/apt.conf.d/90otlab" <<'APT'
APT::Install-Recommends "false";
APT::Install-Suggests "false";
Dpkg::Use-Pty "false";
APT
printf 'otlab\n' >"$work/etc/hostname"
: >"$work/etc/machine-id"

log "podman import -> $IMAGE"
tar -C "$work" --numeric-owner -c . | podman import --quiet \
  --change 'CMD ["/usr/local/sbin/otlab-entrypoint"]' \
  --change 'LABEL otorchestrator.lab.image=1' \
  --message "otorchestrator lab image $recipe_key" - "$IMAGE" >/dev/null
# keep only the current image of this repo (older recipes are garbage)
for old in $(podman images --format '{{.Repository}}:{{.Tag}}' | grep "^$IMAGE_REPO:" | grep -v ":$recipe_key\$"); do
  podman rmi "$old" >/dev/null 2>&1 || true
done
log "image $IMAGE ready"
echo "$IMAGE"
