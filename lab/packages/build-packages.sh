#!/usr/bin/env bash
# Build the fictional Northwind Controls packages (1.0.0 and 1.1.0 of each product) REPRODUCIBLY:
# fixed mtimes (SOURCE_DATE_EPOCH per version), fixed modes, root:root, gzip (deterministic across
# machines, unlike threaded xz). The sha256 of every .deb is therefore stable and is pinned in
# inventories/lab/catalog.yml (checked by tests/unit/test_lab_catalog.py).
#
# usage: lab/packages/build-packages.sh OUTDIR      -> OUTDIR/<package>_<version>_all.deb
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${1:?usage: build-packages.sh OUTDIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
VERSIONS=("1.0.0:1768435200" "1.1.0:1772409600")   # 2026-01-15, 2026-03-02 (UTC)
umask 022
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT

render() {  # render TEMPLATE DEST MODE
  sed -e "s|@NAME@|$name|g" -e "s|@VERSION@|$version|g" -e "s|@PORT@|$port|g" -e "s|@PRODUCT@|$product|g" "$1" >"$2"
  chmod "$3" "$2"
}

while IFS='|' read -r name product port summary; do
  [[ -z $name || $name == \#* ]] && continue
  for entry in "${VERSIONS[@]}"; do
    version=${entry%%:*}; epoch=${entry##*:}
    root="$stage/$name-$version"
    mkdir -p "$root/DEBIAN" "$root/opt/nwc/$name/bin" "$root/etc/nwc" "$root/etc/init.d" "$root/usr/bin" \
      "$root/usr/share/doc/$name"
    render "$HERE/templates/daemon.py" "$root/opt/nwc/$name/bin/${name}d" 0755
    render "$HERE/templates/health" "$root/usr/bin/$name-health" 0755
    render "$HERE/templates/init" "$root/etc/init.d/$name" 0755
    render "$HERE/templates/conf" "$root/etc/nwc/$name.conf" 0644
    extra="$HERE/extras/${name}_$version"
    [[ -f $extra.conf ]] && cat "$extra.conf" >>"$root/etc/nwc/$name.conf"
    if [[ -d $extra.files ]]; then
      cp -r "$extra.files/." "$root/"
      find "$root/opt" -path '*/bin/*' -type f -exec chmod 0755 {} +
    fi
    printf '%s %s (Northwind Controls, fictional vendor of the otorchestrator lab)\n%s\n' \
      "$product" "$version" "$summary" >"$root/usr/share/doc/$name/README"
    chmod 0644 "$root/usr/share/doc/$name/README"
    for script in postinst prerm postrm; do
      render "$HERE/templates/$script" "$root/DEBIAN/$script" 0755
    done
    if [[ -f $extra.postinst ]]; then
      python3 - "$root/DEBIAN/postinst" "$extra.postinst" <<'PY'
import sys
path, extra = sys.argv[1], open(sys.argv[2]).read().rstrip("\n")
text = open(path).read().replace("#EXTRA#", extra)
open(path, "w").write(text)
PY
    else
      sed -i '/^#EXTRA#$/d' "$root/DEBIAN/postinst"
    fi
    printf '/etc/nwc/%s.conf\n/etc/init.d/%s\n' "$name" "$name" >"$root/DEBIAN/conffiles"
    size=$(du -k -s --exclude=DEBIAN "$root" | cut -f1)
    cat >"$root/DEBIAN/control" <<CTL
Package: $name
Version: $version
Architecture: all
Maintainer: Northwind Controls Packaging <packaging@northwind-controls.example>
Installed-Size: $size
Depends: python3 (>= 3.9)
Section: misc
Priority: optional
Homepage: https://northwind-controls.example/products/$name
Description: $product - $summary
 Fictional vendor software for the otorchestrator lab. Runs a small HTTP service
 on port $port with GET /health; health command /usr/bin/$name-health.
CTL
    (cd "$root" && find . -path ./DEBIAN -prune -o -type f -print | sed 's|^\./||' | LC_ALL=C sort \
      | xargs md5sum >DEBIAN/md5sums)
    find "$root" -type d -exec chmod 0755 {} +
    chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"
    find "$root" -exec touch -h -d "@$epoch" {} +
    SOURCE_DATE_EPOCH=$epoch dpkg-deb --root-owner-group -Zgzip -z9 --build "$root" \
      "$OUT/${name}_${version}_all.deb" >/dev/null
  done
done <"$HERE/products.txt"
(cd "$OUT" && sha256sum ./*.deb | sed 's| \./| |')
