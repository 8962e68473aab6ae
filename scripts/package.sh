#!/usr/bin/env bash
# `make package`: the Debian package, built with Debian's own `dpkg-deb
# --build` from a staging folder. It holds the tray app
# (/usr/bin/peloton-coda-sync-app, with its desktop entry and hicolor icons)
# and the command line (/usr/bin/peloton-coda-sync), both from the one
# release build the desktop end-to-end tests drive (scripts/build-release.sh).
# What the package says about itself (description, section, dependencies) is
# in packaging/deb/control; its desktop entry is packaging/deb/*.desktop.
#
# Why not Tauri's bundler: tauri-cli is a ~22 minute install on a 2-core box
# and builds the app a second time with another feature set; a .deb is an
# ar archive of a control file and a file tree, which dpkg-deb (always on
# Debian) writes in a second.
#
# Prints the path of the .deb as its only line on stdout (the build talks on
# stderr), named as Debian names packages: peloton-coda-sync_<version>_<arch>.deb.
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  CARGO="$HOME/.cargo/bin/cargo"
fi
export CARGO

say() { echo "package: $*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}

command -v dpkg-deb >/dev/null || die "dpkg-deb is missing (it comes with dpkg on Debian and Ubuntu)"

# Wherever the target folder is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$("$CARGO" metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir:-$PWD/target}

say "building the app and the command line (release)"
scripts/build-release.sh || die "the release build"
app="$target_dir/release/peloton-coda-sync-app"
cli="$target_dir/release/peloton-coda-sync"
for bin in "$app" "$cli"; do
  [[ -x "$bin" ]] || die "no $bin after the build"
done

# The version is the one the CLI reports (`peloton-coda-sync 0.1.0`), so the
# package and its programs cannot disagree.
version=$("$cli" --version | awk '{print $NF}')
[[ "$version" =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "cannot read a version from '$("$cli" --version)'"
arch=$(dpkg --print-architecture)

out="$target_dir/debian"
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"

install -D -m 0755 "$app" "$stage/usr/bin/peloton-coda-sync-app"
install -D -m 0755 "$cli" "$stage/usr/bin/peloton-coda-sync"
install -D -m 0644 packaging/deb/peloton-coda-sync-app.desktop \
  "$stage/usr/share/applications/peloton-coda-sync-app.desktop"
# The hicolor theme's folders are named by pixel size; the icons in icons/
# are named as Tauri names them (128x128@2x is the 256 px one).
for pair in 32x32:32x32 128x128:128x128 128x128@2x:256x256 icon:512x512; do
  install -D -m 0644 "icons/${pair%%:*}.png" \
    "$stage/usr/share/icons/hicolor/${pair#*:}/apps/peloton-coda-sync-app.png"
done

installed_kb=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@INSTALLED_SIZE@/$installed_kb/" \
  packaging/deb/control >"$stage/DEBIAN/control"
! grep -q '@[A-Z_]*@' "$stage/DEBIAN/control" || die "a placeholder is left in the control file"

deb="$out/peloton-coda-sync_${version}_${arch}.deb"
rm -f "$out"/*.deb
# Files owned by root whoever builds; dpkg-deb checks the control file.
dpkg-deb --root-owner-group --build "$stage" "$deb" >&2 || die "dpkg-deb --build"
say "built $deb"
echo "$deb"
