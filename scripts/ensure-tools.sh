#!/usr/bin/env bash
# Installs the cargo tools named as arguments when missing: cargo-deny (the
# licence and ban check of `make lint`) and tauri-driver 2.x (the WebDriver
# bridge of the desktop end-to-end tests). Each is installed with --locked
# (the versions its authors tested) and built in the tools folder of the
# target folder, so a rebuild after an update is incremental and the clone
# stays clean. Silent when everything is there.
#
# A tool counts as there when `cargo install --list` lists it (that honours
# CARGO_INSTALL_ROOT, which scripts/cold-test.sh points at a fresh folder) or,
# without CARGO_INSTALL_ROOT, when it is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  CARGO="$HOME/.cargo/bin/cargo"
fi
tools_build="${CARGO_TARGET_DIR:-$PWD/target}/tools"

# tauri-driver 3.0 is an alpha for another WebDriver protocol; the app is on Tauri 2.
version_args() {
  case $1 in
    tauri-driver) echo "--version ^2" ;;
  esac
}
pattern_of() {
  case $1 in
    tauri-driver) echo '^tauri-driver v2\.' ;;
    *) echo "^$1 v" ;;
  esac
}

for tool in "$@"; do
  listed=$("$CARGO" install --list 2>/dev/null || true)
  grep -q "$(pattern_of "$tool")" <<<"$listed" && continue
  if [[ -z "${CARGO_INSTALL_ROOT:-}" && "$tool" != tauri-driver ]] && command -v "$tool" >/dev/null 2>&1; then
    continue
  fi
  echo "Installing $tool (cargo install --locked; a few minutes the first time)" >&2
  # shellcheck disable=SC2046 # the version requirement is two words or none
  "$CARGO" install --locked --target-dir "$tools_build" "$tool" $(version_args "$tool") >&2
done
