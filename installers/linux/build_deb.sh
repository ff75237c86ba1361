#!/usr/bin/env bash
# dist/enclave (the one-folder bundle from build.spec) -> dist/enclave_<version>_amd64.deb
#
#   pyinstaller --noconfirm --clean build.spec && installers/linux/build_deb.sh
#
# Installs to /opt/enclave with /usr/bin/enclave, a menu entry and icons. User data lives in
# ~/.local/share/Enclave (and ~/.config/Enclave), which removing the package never touches.
# Environment: ENCLAVE_VERSION (default: app/__init__.py), DEB_SUFFIX (e.g. "-cuda"),
# DEB_ARCH (default amd64), DEB_COMPRESSION (default xz, the smallest: minutes on 2 cores;
# zstd takes seconds, for a test build: dpkg reads it from Debian 12 and Ubuntu 21.10 on).
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=installers/linux/common.sh
. installers/linux/common.sh
arch="${DEB_ARCH:-amd64}"
suffix="${DEB_SUFFIX:-}"
out="dist/enclave${suffix}_${version}_${arch}.deb"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root="$work/root"
mkdir -p "$root/DEBIAN" "$root/opt" "$root/usr/bin" "$root/usr/share/applications" \
  "$root/usr/share/icons/hicolor/scalable/apps" "$root/usr/share/doc/enclave"
cp -a "$bundle" "$root/opt/enclave"
ln -s /opt/enclave/enclave "$root/usr/bin/enclave"
install -m 0644 installers/linux/enclave.desktop "$root/usr/share/applications/enclave.desktop"
install -m 0644 resources/icons/enclave.svg "$root/usr/share/icons/hicolor/scalable/apps/enclave.svg"
for size in 16 32 48 64 128 256 512; do
  mkdir -p "$root/usr/share/icons/hicolor/${size}x${size}/apps"
  install -m 0644 "resources/icons/enclave-$size.png" \
    "$root/usr/share/icons/hicolor/${size}x${size}/apps/enclave.png"
done
printf 'Enclave %s\nLicense: Apache-2.0\n' "$version" > "$root/usr/share/doc/enclave/copyright"
# For IT: what /etc/enclave/policy.json may hold (docs/policy.md). The package never installs a
# policy itself: an upgrade must not touch the one IT put there.
install -m 0644 docs/policy.example.json "$root/usr/share/doc/enclave/policy.example.json"
install -m 0644 docs/policy.md "$root/usr/share/doc/enclave/policy.md"

installed_kb=$(du -sk "$root" | cut -f1)
# Qt's X11/Wayland platform plugins need these from the system; everything else is bundled.
cat > "$root/DEBIAN/control" <<CONTROL
Package: enclave${suffix}
Version: ${version}
Architecture: ${arch}
Maintainer: Enclave <enclave@localhost>
Installed-Size: ${installed_kb}
Depends: libc6 (>= 2.31), libgl1, libegl1, libfontconfig1, libfreetype6, libxkbcommon0, libxkbcommon-x11-0, libdbus-1-3, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-xkb1, libxcb-render-util0, libxcb-image0, libxcb-randr0
Recommends: libwayland-client0, libwayland-cursor0, libwayland-egl1
Conflicts: $( [ -n "$suffix" ] && echo enclave || echo enclave-cuda )
Section: utils
Priority: optional
Description: Run language models privately on this computer
 Enclave finds and downloads GGUF language models, fits them to this
 computer's memory and graphics card, and chats with them, also over your
 own documents, without any data leaving the machine.
CONTROL
cat > "$root/DEBIAN/postinst" <<'POSTINST'
#!/bin/sh
set -e
if command -v update-desktop-database >/dev/null 2>&1; then update-desktop-database -q /usr/share/applications; fi
if command -v gtk-update-icon-cache >/dev/null 2>&1; then gtk-update-icon-cache -q -t /usr/share/icons/hicolor; fi
exit 0
POSTINST
cp "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"
chmod 0755 "$root/DEBIAN/postinst" "$root/DEBIAN/postrm"

mkdir -p dist
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$root" "$out" >/dev/null
echo "$out ($(du -h "$out" | cut -f1))"
