#!/usr/bin/env bash
# dist/Enclave.app (from build.spec on macOS) -> dist/Enclave-<version>-macos-arm64.dmg, and the
# same app as dist/Enclave-<version>-macos-arm64.pkg for MDM tools (installs /Applications/Enclave.app)
#
#   pyinstaller --noconfirm --clean build.spec && installers/macos/build_dmg.sh
#
# Signing and notarization run only when their secrets are present, so the same script makes
# an unsigned test image on any Mac and a release image in CI:
#   MACOS_SIGN_IDENTITY   "Developer ID Application: Company (TEAMID)" in the keychain
#                         (CI: import a .p12 first; see .github/workflows/release.yml)
#   Notarization, either  NOTARY_KEYCHAIN_PROFILE  (xcrun notarytool store-credentials ...)
#               or        APPLE_ID + APPLE_TEAM_ID + APPLE_APP_PASSWORD (app-specific password)
#   MACOS_INSTALLER_IDENTITY  "Developer ID Installer: Company (TEAMID)": signs the .pkg (MDM
#                         tools want a signed package); notarized and stapled like the image
# ENCLAVE_NO_PKG=1 skips the .pkg.
# Environment: ENCLAVE_VERSION (default: app/__init__.py).
set -euo pipefail
cd "$(dirname "$0")/../.."

app=dist/Enclave.app
if [ ! -d "$app" ]; then
  echo "No $app: run 'pyinstaller --noconfirm --clean build.spec' on macOS first." >&2
  exit 1
fi
version="${ENCLAVE_VERSION:-$(sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)}"
arch=$(uname -m)
dmg="dist/Enclave-${version}-macos-${arch}.dmg"
entitlements=installers/macos/entitlements.plist
identity="${MACOS_SIGN_IDENTITY:-}"

sign() {  # sign one file or bundle with the hardened runtime and a secure timestamp
  codesign --force --timestamp --options runtime --entitlements "$entitlements" \
    --sign "$identity" "$1"
}

if [ -n "$identity" ]; then
  echo "Signing $app as: $identity"
  # Inside out: every Mach-O library and executable first, the bundle last (no --deep).
  while IFS= read -r -d '' file; do
    if file -b "$file" | grep -q "Mach-O"; then
      sign "$file"
    fi
  done < <(find "$app/Contents" -type f ! -name "*.py*" ! -name "*.gguf" -print0)
  sign "$app"
  codesign --verify --deep --strict --verbose=2 "$app"
else
  echo "MACOS_SIGN_IDENTITY not set: building an unsigned image (Gatekeeper will warn)."
fi

staging=$(mktemp -d)
trap 'rm -rf "$staging"' EXIT
cp -R "$app" "$staging/"
ln -s /Applications "$staging/Applications"
rm -f "$dmg"
hdiutil create -volname "Enclave" -srcfolder "$staging" -fs HFS+ -format UDZO -ov "$dmg"

if [ -n "$identity" ]; then
  codesign --force --timestamp --sign "$identity" "$dmg"
  if [ -n "${NOTARY_KEYCHAIN_PROFILE:-}" ]; then
    echo "Notarizing $dmg (this waits for Apple, usually a few minutes)"
    xcrun notarytool submit "$dmg" --keychain-profile "$NOTARY_KEYCHAIN_PROFILE" --wait
    notarized=1
  elif [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
    echo "Notarizing $dmg (this waits for Apple, usually a few minutes)"
    xcrun notarytool submit "$dmg" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
      --password "$APPLE_APP_PASSWORD" --wait
    notarized=1
  else
    echo "No notarization credentials: the image is signed but not notarized."
    notarized=0
  fi
  if [ "$notarized" = 1 ]; then
    xcrun stapler staple "$dmg"
    spctl --assess --type open --context context:primary-signature --verbose "$dmg"
  fi
fi
echo "$dmg ($(du -h "$dmg" | cut -f1))"

notarize() {  # submit one file, wait, staple; nothing without credentials
  if [ -n "${NOTARY_KEYCHAIN_PROFILE:-}" ]; then
    xcrun notarytool submit "$1" --keychain-profile "$NOTARY_KEYCHAIN_PROFILE" --wait
  elif [ -n "${APPLE_ID:-}" ] && [ -n "${APPLE_TEAM_ID:-}" ] && [ -n "${APPLE_APP_PASSWORD:-}" ]; then
    xcrun notarytool submit "$1" --apple-id "$APPLE_ID" --team-id "$APPLE_TEAM_ID" \
      --password "$APPLE_APP_PASSWORD" --wait
  else
    echo "No notarization credentials: $1 is not notarized."
    return 0
  fi
  xcrun stapler staple "$1"
}

if [ "${ENCLAVE_NO_PKG:-0}" != 1 ]; then
  # A component package of the (already signed) app for MDM tools: installs
  # /Applications/Enclave.app for every user, silently: sudo installer -pkg <pkg> -target /
  pkg="dist/Enclave-${version}-macos-${arch}.pkg"
  pkgroot=$(mktemp -d)
  trap 'rm -rf "$staging" "$pkgroot"' EXIT
  cp -R "$app" "$pkgroot/"
  # Not relocatable: the installer must not "update" a copy the user dragged elsewhere, and MDM
  # tools expect the app where the package says.
  pkgbuild --analyze --root "$pkgroot" "$pkgroot.plist"
  plutil -replace BundleIsRelocatable -bool NO "$pkgroot.plist"
  installer_identity="${MACOS_INSTALLER_IDENTITY:-}"
  sign_args=()  # (the odd expansion below: macOS's bash 3.2 calls an empty array unset)
  if [ -n "$installer_identity" ]; then
    sign_args=(--sign "$installer_identity" --timestamp)
  else
    echo "MACOS_INSTALLER_IDENTITY not set: building an unsigned package (MDM tools may refuse it)."
  fi
  rm -f "$pkg"
  pkgbuild --root "$pkgroot" --component-plist "$pkgroot.plist" --install-location /Applications \
    --identifier com.enclave.desktop --version "$version" ${sign_args[@]+"${sign_args[@]}"} "$pkg"
  rm -f "$pkgroot.plist"
  if [ -n "$installer_identity" ]; then
    pkgutil --check-signature "$pkg"
    notarize "$pkg"
  fi
  echo "$pkg ($(du -h "$pkg" | cut -f1))"
fi
