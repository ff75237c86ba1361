#!/usr/bin/env bash
# dist/enclave (the one-folder bundle from build.spec) -> dist/Enclave-<version>-x86_64.AppImage
#
#   pyinstaller --noconfirm --clean build.spec && installers/linux/build_appimage.sh
#
# Needs appimagetool: $APPIMAGETOOL, or appimagetool on PATH, or it is downloaded once into
# build/tools/ (the release workflow does that). The AppImage runs without installing
# (chmod +x, double-click); user data lives in ~/.local/share/Enclave like the .deb's.
# Environment: ENCLAVE_VERSION (default: app/__init__.py), APPIMAGE_SUFFIX (e.g. "-cuda").
set -euo pipefail
cd "$(dirname "$0")/../.."

bundle=dist/enclave
if [ ! -x "$bundle/enclave" ]; then
  echo "No bundle at $bundle: run 'pyinstaller --noconfirm --clean build.spec' first." >&2
  exit 1
fi
version="${ENCLAVE_VERSION:-$(sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)}"
out="dist/Enclave${APPIMAGE_SUFFIX:-}-${version}-x86_64.AppImage"

tool="${APPIMAGETOOL:-}"
if [ -z "$tool" ] && command -v appimagetool >/dev/null 2>&1; then
  tool=$(command -v appimagetool)
fi
if [ -z "$tool" ]; then
  tool=build/tools/appimagetool-x86_64.AppImage
  if [ ! -x "$tool" ]; then
    mkdir -p build/tools
    curl -fsSL -o "$tool.part" \
      "https://github.com/AppImage/appimagetool/releases/download/continuous/appimagetool-x86_64.AppImage"
    chmod +x "$tool.part"
    mv "$tool.part" "$tool"
  fi
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

if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$appdir/enclave.desktop"
fi
mkdir -p dist
# Extract-and-run: works on build machines and containers without FUSE.
ARCH=x86_64 APPIMAGE_EXTRACT_AND_RUN=1 "$tool" --no-appstream "$appdir" "$out" >&2
chmod +x "$out"
echo "$out ($(du -h "$out" | cut -f1))"
