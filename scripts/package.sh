#!/usr/bin/env bash
# `make package`: the Debian package, built by Tauri's bundler (tauri-cli 2.x,
# `cargo tauri`). It holds the tray app (/usr/bin/peloton-coda-sync-app, with
# its desktop entry and icons) and the command line (/usr/bin/peloton-coda-sync).
# What the package says about itself (description, category, dependencies)
# is in src-tauri/tauri.conf.json under `bundle`; this script adds only what
# depends on the build: where the built CLI is.
#
# Prints the path of the .deb as its only line on stdout (the build talks on
# stderr), named as Debian names packages: peloton-coda-sync_<version>_<arch>.deb.
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  CARGO="$HOME/.cargo/bin/cargo"
fi
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

say() { echo "package: $*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}

# tauri-cli 3.0 is an alpha for another config format; the app is on Tauri 2.
"$CARGO" tauri --version 2>/dev/null | grep -q '^tauri-cli 2\.' ||
  die "tauri-cli 2.x is missing; run make package (or: cargo install --locked tauri-cli --version '^2')"

# Wherever the target folder is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$("$CARGO" metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
target_dir=${target_dir:-$PWD/target}

say "building the command line (release)"
"$CARGO" build --release --locked -p peloton-coda-sync >&2 || die "building the command line"
cli="$target_dir/release/peloton-coda-sync"
[[ -x "$cli" ]] || die "no command line at $cli after the build"

# The CLI's place in the package, merged into tauri.conf.json for this build
# only (its path depends on the target folder).
tmp=$(mktemp -d -t pcs-package.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
printf '{"bundle":{"linux":{"deb":{"files":{"/usr/bin/peloton-coda-sync":"%s"}}}}}\n' "$cli" >"$tmp/package.conf.json"

# Only debs from this build count: an old one of another version would pass.
bundle_dir="$target_dir/release/bundle/deb"
rm -f "$bundle_dir"/*.deb

say "building the app and the .deb (cargo tauri build --bundles deb)"
# No frontend build: the windows are plain files in ui/ (build.frontendDist).
(cd src-tauri && "$CARGO" tauri build --ci --bundles deb --config "$tmp/package.conf.json" -- --locked) >&2 ||
  die "cargo tauri build"

shopt -s nullglob
built=("$bundle_dir"/*.deb)
((${#built[@]} == 1)) || die "expected one .deb in $bundle_dir, found ${#built[@]}"

# The bundler names the file after the product name ("Peloton Coda Sync_...");
# apt and people expect the package's name.
package=$(dpkg-deb -f "${built[0]}" Package)
version=$(dpkg-deb -f "${built[0]}" Version)
arch=$(dpkg-deb -f "${built[0]}" Architecture)
deb="$bundle_dir/${package}_${version}_${arch}.deb"
[[ "${built[0]}" == "$deb" ]] || mv -f "${built[0]}" "$deb"
say "built $deb"
echo "$deb"
