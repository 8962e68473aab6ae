#!/usr/bin/env bash
# The one release build of the tray app and the command line, shared by
# `make run`, the desktop end-to-end tests (scripts/e2e-desktop.sh) and the
# Debian package (scripts/package.sh). One command with one package set and
# one feature set, so cargo builds the release dependencies once and the
# binaries the tests drive are the ones the package holds; a second caller
# finds everything fresh and builds nothing.
#
# Prints nothing on stdout (cargo talks on stderr); arguments go to cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  CARGO="$HOME/.cargo/bin/cargo"
fi
"$CARGO" build --release --locked -p peloton-coda-sync-app -p peloton-coda-sync "$@" >&2
