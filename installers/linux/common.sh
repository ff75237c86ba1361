# Sourced by build_appimage.sh and build_deb.sh (from the repository root): what both packages
# start from. Sets `bundle` (the one-folder app) and `version` (ENCLAVE_VERSION, else the app's).
bundle=dist/enclave
if [ ! -x "$bundle/enclave" ]; then
  echo "No bundle at $bundle: run 'pyinstaller --noconfirm --clean build.spec' first." >&2
  exit 1
fi
version="${ENCLAVE_VERSION:-$(sed -n 's/^__version__ = "\(.*\)"/\1/p' app/__init__.py)}"
