#!/usr/bin/env bash
# `make demo-app`: the real tray app, without accounts. Builds and starts the
# fake Peloton (a few hundred workouts, dated up to three hours ago; a friend
# finishes a new ride a minute later) and the fake Coda (the test crates'
# binaries, never linked into the app), then the release tray app in a
# throwaway HOME whose settings point at the fakes.
#
# The person's own settings, state, logs and keychain entries are never read
# or written: HOME and the XDG folders are a temporary folder, the app runs
# with --demo (its keychain entries go under the service
# peloton-coda-sync-demo, and it is its own single instance, beside an
# installed app), and the environment's PELOTON_*/CODA_* variables are
# dropped. Where a keychain answers (secret-tool), the demo's credentials are
# kept there under that service; else they are passed in the environment
# (the app then keeps them in memory only).
#
# Quitting the app (tray menu, Quit) ends the demo: the fakes are stopped,
# the demo's keychain entries cleared and the temporary folder removed. One
# demo runs at a time. The fakes listen on DEMO_PELOTON_PORT and
# DEMO_CODA_PORT (8701, 8702) when free, else on ports the system picks.
# WORKOUTS=N changes the rider's history (default 300).
set -euo pipefail
DEMO_SERVICE='peloton-coda-sync-demo'
source "$(dirname "$0")/demo-lib.sh"
WORKOUTS=${WORKOUTS:-300}
say() { echo "demo-app: $*" >&2; }

if [[ -z "${DISPLAY:-}" && -z "${WAYLAND_DISPLAY:-}" ]]; then
  say "no display (DISPLAY and WAYLAND_DISPLAY are unset): the tray app needs a desktop; \`make demo\` shows a sync without one."
  exit 1
fi

# One demo at a time: the lock lives as long as this script.
lock_file="${XDG_RUNTIME_DIR:-/tmp}/peloton-coda-sync-demo-$(id -u).lock"
exec 9>"$lock_file"
if ! flock -n 9; then
  say "a demo is already running; quit it from its tray icon (Quit) before starting another."
  exit 1
fi

# PCS_APP_BIN and PCS_FAKES_DIR name builds to use instead (the desktop
# end-to-end test does; it must not start cargo inside cargo).
if [[ -n "${PCS_APP_BIN:-}" && -n "${PCS_FAKES_DIR:-}" ]]; then
  app=$PCS_APP_BIN
  fakes=$PCS_FAKES_DIR
else
  say "building the app (release) and the fakes..."
  "$CARGO" build --quiet --locked --release -p peloton-coda-sync-app
  "$CARGO" build --quiet --locked -p fake-peloton -p fake-coda
  app=$(target_dir)/release/peloton-coda-sync-app
  fakes=$(target_dir)/debug
fi

keychain=0
demo_on_exit() {
  if [[ $keychain == 1 ]]; then
    secret-tool clear service "$DEMO_SERVICE" 2>/dev/null || true
  fi
}
demo_start

start_fake fake-peloton "${DEMO_PELOTON_PORT:-8701}" \
  --workouts "$WORKOUTS" --recent --friend-ride-after 60
peloton_url=$fake_url
start_fake fake-coda "${DEMO_CODA_PORT:-8702}" --doc-id "$FAKE_CODA_DOC" --token "$FAKE_CODA_TOKEN"
coda_url=$fake_url
peloton_email=$(sed -n 's/^email: //p' "$tmp/fake-peloton.out")

home="$tmp/home"
config="$home/.config/peloton-coda-sync"
mkdir -p "$config"
cat >"$config/settings.toml" <<EOF
peloton_email = "$peloton_email"
coda_doc = "$FAKE_CODA_DOC"
peloton_api_url = "$peloton_url"
peloton_auth_url = "$peloton_url"
coda_api_url = "$coda_url"

[notifications]
new_workouts = true
friends_new_rides = true
failures = true
EOF

# The credentials: in a keychain under the demo's own service where one
# answers, else in the environment (and then only in the app's memory).
secret() { # account value
  printf '%s' "$2" | secret-tool store --label="$1@$DEMO_SERVICE" \
    service "$DEMO_SERVICE" username "$1" target default application rust-keyring
}
credentials_env=()
if command -v secret-tool >/dev/null 2>&1 &&
  secret peloton-password "$FAKE_PELOTON_PASSWORD" 2>/dev/null &&
  [[ "$(secret-tool lookup service "$DEMO_SERVICE" username peloton-password 2>/dev/null)" == "$FAKE_PELOTON_PASSWORD" ]]; then
  keychain=1
  secret coda-api-token "$FAKE_CODA_TOKEN"
  say "credentials kept in the keychain under \"$DEMO_SERVICE\" (cleared when the demo ends)"
else
  credentials_env=(PELOTON_PASSWORD="$FAKE_PELOTON_PASSWORD" CODA_API_TOKEN="$FAKE_CODA_TOKEN")
  say "no keychain answers: the demo's credentials stay in the app's memory"
fi

say "fake Peloton at $peloton_url ($WORKOUTS workouts), fake Coda at $coda_url (rows: ${coda_url%/apis/v1}/__control/dump)"
say "Peloton Coda Sync (demo) is in your tray: Sync now fills the fake doc; a friend finishes a ride a minute from now (Sync now again shows it). Quit from the tray ends the demo."

# X clients find their cookie through XAUTHORITY, which defaults to the real HOME.
xauth=${XAUTHORITY:-$HOME/.Xauthority}
env -u PELOTON_USERNAME -u PELOTON_PASSWORD -u CODA_API_TOKEN -u CODA_DOC \
  -u PELOTON_API_URL -u PELOTON_AUTH_URL -u CODA_API_URL -u RUST_LOG \
  HOME="$home" \
  XDG_CONFIG_HOME="$home/.config" \
  XDG_DATA_HOME="$home/.local/share" \
  XDG_STATE_HOME="$home/.local/state" \
  XDG_CACHE_HOME="$home/.cache" \
  XAUTHORITY="$xauth" \
  "${credentials_env[@]}" \
  "$app" --demo "$@" &
app_pid=$!
pids+=("$app_pid")
status=0
wait "$app_pid" || status=$?
say "the app has quit; stopping the fakes and removing the demo's files."
exit "$status"
