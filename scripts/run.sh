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

# Nothing set up yet (no settings file, no credentials in the environment):
# offer the demo against fake accounts first. Setup itself is the app's
# Settings window; this only decides whether to ask.
settings="${XDG_CONFIG_HOME:-$HOME/.config}/peloton-coda-sync/settings.toml"
if [[ ! -e "$settings" && -z "${CODA_API_TOKEN:-}${PELOTON_PASSWORD:-}" ]]; then
  if [[ -t 0 ]]; then
    read -r -p "No Peloton or Coda account is set up yet. Try the app with fake accounts first (make demo-app)? [y/N] " answer
    if [[ $answer == [yY]* ]]; then
      exec scripts/demo-app.sh "$@"
    fi
  else
    echo "No account is set up yet; \`make demo-app\` shows the app working with fake accounts."
  fi
fi

scripts/build-release.sh
target_dir="${CARGO_TARGET_DIR:-target}"
echo "Starting Peloton Coda Sync (it lives in the tray; logs: ~/.local/state/peloton-coda-sync/logs)."
exec "$target_dir/release/peloton-coda-sync-app" "$@"
