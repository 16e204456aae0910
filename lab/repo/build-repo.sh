#!/usr/bin/env bash
# Build the lab's signed flat APT repositories under LABDIR (default: <project>/.lab):
#   LABDIR/repo/main   Packages, Release, InRelease, Release.gpg + the .debs  (signed by the archive key)
#   LABDIR/repo/rogue  the same packages, signed by a second, unrelated key   (apt must refuse it)
#   LABDIR/repo/keys/nwc-archive.gpg   public archive key, installed on hosts as
#                                      /etc/apt/keyrings/nwc-archive.gpg
# Keys are passphrase-less, generated once in batch mode into LABDIR/gnupg and LABDIR/gnupg-rogue
# (never committed). Skips the work when packages, this script and the keys are unchanged.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PROJECT=$(cd "$HERE/../.." && pwd)
LABDIR=${1:-$PROJECT/.lab}
mkdir -p "$LABDIR"
LABDIR=$(cd "$LABDIR" && pwd)
REPO="$LABDIR/repo"
log() { printf '[lab repo] %s\n' "$*" >&2; }

ensure_key() {  # ensure_key GNUPGHOME "User ID" -> prints fingerprint
  local home=$1 uid=$2
  mkdir -p "$home"; chmod 700 "$home"
  if ! gpg --homedir "$home" --batch --list-secret-keys --with-colons 2>/dev/null | grep -q '^sec'; then
    log "generating signing key '$uid' in $home"
    gpg --homedir "$home" --batch --quiet --passphrase '' --quick-gen-key "$uid" ed25519 sign never 2>/dev/null
  fi
  gpg --homedir "$home" --batch --list-secret-keys --with-colons | awk -F: '/^fpr/ {print $10; exit}'
}

sign_repo() {  # sign_repo DIR GNUPGHOME FPR LABEL
  local dir=$1 home=$2 fpr=$3 label=$4
  (cd "$dir"
   apt-ftparchive packages . >Packages 2>/dev/null
   gzip -9nkf Packages
   apt-ftparchive \
     -o APT::FTPArchive::Release::Origin="Northwind Controls" \
     -o APT::FTPArchive::Release::Label="$label" \
     -o APT::FTPArchive::Release::Suite="lab" \
     -o APT::FTPArchive::Release::Codename="lab" \
     -o APT::FTPArchive::Release::Description="Northwind Controls vendor packages (otorchestrator lab)" \
     release . >Release.new
   mv Release.new Release
   rm -f InRelease Release.gpg
   gpg --homedir "$home" --batch --yes --local-user "$fpr" --digest-algo SHA256 --clearsign -o InRelease Release
   gpg --homedir "$home" --batch --yes --local-user "$fpr" --digest-algo SHA256 -abs -o Release.gpg Release)
}

fpr=$(ensure_key "$LABDIR/gnupg" "Northwind Controls Lab Archive <archive@northwind-controls.example>")
rogue_fpr=$(ensure_key "$LABDIR/gnupg-rogue" "Not Northwind Controls <rogue@attacker.example>")
stamp=$( { cd "$HERE/.." && find packages repo -type f | LC_ALL=C sort | xargs sha256sum; echo "$fpr $rogue_fpr"; } \
  | sha256sum | cut -c1-16)
if [[ -f $REPO/.stamp && $(cat "$REPO/.stamp") == "$stamp" && -f $REPO/main/InRelease && -f $REPO/rogue/InRelease ]]; then
  log "repositories up to date ($REPO)"
  gpgconf --homedir "$LABDIR/gnupg" --kill gpg-agent 2>/dev/null || true
  gpgconf --homedir "$LABDIR/gnupg-rogue" --kill gpg-agent 2>/dev/null || true
  exit 0
fi

log "building vendor packages (reproducible) into $REPO/main"
# empty the directories in place: running lab hosts bind-mount them, a new directory would not be seen
mkdir -p "$REPO/main" "$REPO/rogue" "$REPO/keys"
find "$REPO/main" "$REPO/rogue" -mindepth 1 -delete
"$HERE/../packages/build-packages.sh" "$REPO/main" >"$REPO/SHA256SUMS"
cp "$REPO/main/"*.deb "$REPO/rogue/"
gpg --homedir "$LABDIR/gnupg" --batch --export "$fpr" >"$REPO/keys/nwc-archive.gpg"
gpg --homedir "$LABDIR/gnupg-rogue" --batch --export "$rogue_fpr" >"$REPO/keys/rogue-archive.gpg"
log "signing main with $fpr, rogue with $rogue_fpr"
sign_repo "$REPO/main" "$LABDIR/gnupg" "$fpr" "Northwind Controls Lab"
sign_repo "$REPO/rogue" "$LABDIR/gnupg-rogue" "$rogue_fpr" "Northwind Controls Lab (rogue)"
# no gpg-agent may outlive the build (`otorch lab down` promises no processes left behind)
gpgconf --homedir "$LABDIR/gnupg" --kill gpg-agent 2>/dev/null || true
gpgconf --homedir "$LABDIR/gnupg-rogue" --kill gpg-agent 2>/dev/null || true
chmod -R a+rX "$REPO"
echo "$stamp" >"$REPO/.stamp"
log "repositories ready: $REPO/main, $REPO/rogue"
