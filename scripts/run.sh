#!/usr/bin/env bash
# `make run`: build the desktop app (release) and start it. The app puts
# itself in the tray and opens Settings on first run.
#
# Without a display (a headless server) there is nothing to show a tray on,
# so the demo sync against the fakes runs instead.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  echo "No display found (DISPLAY and WAYLAND_DISPLAY are unset): running the demo sync instead of the tray app."
  exec scripts/demo.sh "$@"
fi

scripts/build-release.sh
target_dir="${CARGO_TARGET_DIR:-target}"
echo "Starting Peloton Coda Sync (it lives in the tray; logs: ~/.local/state/peloton-coda-sync/logs)."
exec "$target_dir/release/peloton-coda-sync-app" "$@"
