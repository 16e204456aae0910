#!/usr/bin/env bash
# Install everything otorchestrator needs on a Debian/Ubuntu machine, idempotently:
#   system packages (as root, through apt), rootful podman configuration,
#   the project virtualenv (.venv) and the Ansible collections (.collections, no Galaxy).
# A second run is fast: each step is skipped when its stamp matches.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}
say() { printf '\033[1m[bootstrap]\033[0m %s\n' "$*"; }

APT_PACKAGES=(podman runc netavark aardvark-dns iptables fuse-overlayfs slirp4netns uidmap catatonit
              debootstrap gnupg gpgv apt-utils dpkg-dev make sqlite3 openssh-client rsync unzip
              chromium rsyslog)

# 1. system packages
missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    say "missing system packages: ${missing[*]} (run as root, or install them yourself)"; exit 1
  fi
  say "installing system packages: ${missing[*]}"
  apt-get update -q 2>&1 | sed -u 's/^/  [apt] /'
  # one line per package set up (the Unpacking/Setting up lines), so a long install shows it is moving
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" 2>&1 |
    { grep --line-buffered -E '^(Get:|Unpacking|Setting up|E:|W:)' || true; } | sed -u 's/^/  [apt] /'
  # (pipefail: a failing apt-get fails the pipeline, its E: lines shown)
fi

# 2. rootful podman configuration known to work in this sandbox (see ../shared/LAB-NOTES.md)
if [[ $(id -u) -eq 0 ]]; then
  conf=/etc/containers/containers.conf
  want="# written by otorchestrator scripts/bootstrap.sh
[containers]
default_ulimits = [\"nofile=20000:20000\", \"nproc=32768:32768\"]
[engine]
runtime = \"runc\"
cgroup_manager = \"cgroupfs\"
events_logger = \"file\"
"
  if [[ ! -f $conf ]] || ! grep -q 'otorchestrator' "$conf"; then
    mkdir -p /etc/containers
    [[ -f $conf ]] && cp "$conf" "$conf.otorch-backup"
    printf '%s' "$want" > "$conf"
    say "wrote $conf"
  fi
fi

# 3. virtualenv, keyed by the hash of pyproject.toml
stamp_val=$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -x .venv/bin/python || "$(cat .venv/.stamp 2>/dev/null)" != "$stamp_val" ]]; then
  say "creating virtualenv .venv ($($PY --version))"
  [[ -x .venv/bin/python ]] || $PY -m venv .venv
  quiet() { "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
  quiet .venv/bin/pip install -q --upgrade pip >/dev/null
  # pip's "Collecting ..." lines (one a package) and its final "Successfully installed" line
  # mitogen: the opt-in transport (`otorch run --transport mitogen`), so the tests can run it too
  quiet .venv/bin/pip install --progress-bar off -e ".[dev,mitogen]" |
    { grep --line-buffered -E '^(Collecting|Successfully|ERROR)' || true; } | sed -u 's/^/  [pip] /'
  echo "$stamp_val" > .venv/.stamp
else
  say "virtualenv up to date"
fi

# 4. Ansible collections from the 'ansible' wheel on PyPI (Galaxy is unreachable)
# ansible/windows: no role uses it (Windows hosts are refused at plan time), but Molecule's prerun asks for it
# (ansible.windows:>=2.0.0) and would try Galaxy without it: a fresh machine's `make test` failed that way
COLLECTIONS=(containers/podman ansible/posix community/general ansible/windows ansible/utils)
ANSIBLE_WHEEL_VERSION=12.3.0
cstamp="$ANSIBLE_WHEEL_VERSION ${COLLECTIONS[*]}"
if [[ "$(cat .collections/.stamp 2>/dev/null)" != "$cstamp" ]]; then
  say "unpacking collections from ansible==$ANSIBLE_WHEEL_VERSION: ${COLLECTIONS[*]}"
  tmp=$(mktemp -d)
  cache=${XDG_CACHE_HOME:-$HOME/.cache}/otorchestrator
  mkdir -p "$cache"
  whl=$(ls "$cache"/ansible-"$ANSIBLE_WHEEL_VERSION"-*.whl 2>/dev/null | head -1 || true)
  if [[ -z $whl ]]; then
    .venv/bin/pip download -q --no-deps 2>/dev/null -d "$cache" "ansible==$ANSIBLE_WHEEL_VERSION"
    whl=$(ls "$cache"/ansible-"$ANSIBLE_WHEEL_VERSION"-*.whl | head -1)
  fi
  rm -rf .collections; mkdir -p .collections/ansible_collections
  pats=(); for c in "${COLLECTIONS[@]}"; do pats+=("ansible_collections/$c/*"); done
  (cd "$tmp" && unzip -q "$whl" "${pats[@]}")
  cp -r "$tmp"/ansible_collections/* .collections/ansible_collections/
  rm -rf "$tmp"
  echo "$cstamp" > .collections/.stamp
else
  say "collections up to date"
fi
# 5. bytecode of the checkout's own Python (an editable install has none, and PYTHONDONTWRITEBYTECODE, set on
# some machines, keeps Python from writing it: every otorch command and every ansible-playbook job then compiled
# the package and the roles' plugins from source: `otorch run --help` took 0.64 s of CPU, 0.48 s with the
# bytecode, loaded, 2026-12-03). A wheel install compiles at install time.
# Up-to-date files are skipped; a file edited later is compiled in memory again, as before.
.venv/bin/python -m compileall -q -j 0 otorchestrator roles >/dev/null
ansible_version=$(.venv/bin/ansible --version)   # whole output: `| head -1` breaks its pipe
say "ready: ${ansible_version%%$'\n'*}"
