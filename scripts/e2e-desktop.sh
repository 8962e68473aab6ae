#!/usr/bin/env bash
# The desktop end-to-end tests (`make e2e`): builds the release app (the
# build the package ships, scripts/build-release.sh) and the tests, installs
# tauri-driver 2.x when missing (scripts/ensure-tools.sh), starts Xvfb on a free
# display, and runs the tests inside a private D-Bus session with
# gnome-keyring unlocked, one test at a time. Every process it starts is
# ended on the way out, whatever happened; any failing step fails the run.
#
# Needs the apt packages of `make deps-e2e`: xvfb dbus-x11 gnome-keyring
# libsecret-tools webkit2gtk-driver xdotool. Arguments go to the test binary
# (e.g. a test name to run only that one).
set -euo pipefail

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}

say() { echo "e2e-desktop: $*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}

# ---- inside the private D-Bus session ---------------------------------------
if [[ "${1:-}" == "--inside-session" ]]; then
  shift
  keyring_pid=""
  cleanup_inside() {
    if [[ -n "$keyring_pid" ]]; then
      kill "$keyring_pid" 2>/dev/null || true
      wait "$keyring_pid" 2>/dev/null || true
    fi
  }
  trap cleanup_inside EXIT

  # A keyring of its own, unlocked with a throwaway password, as a login
  # session leaves it. Its files live under the run's temporary folder.
  keyring_pw="e2e-$RANDOM$RANDOM"
  # The tests lock the keyring and unlock it again with it (a throwaway).
  export E2E_KEYRING_PASSWORD="$keyring_pw"
  printf '%s' "$keyring_pw" |
    XDG_DATA_HOME="$E2E_TMP/keyring-data" \
      gnome-keyring-daemon --foreground --unlock --components=secrets \
      >"$E2E_TMP/keyring.log" 2>&1 &
  keyring_pid=$!
  for _ in $(seq 100); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus / \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null |
      grep -q 'boolean true'; then
      break
    fi
    kill -0 "$keyring_pid" 2>/dev/null || die "gnome-keyring-daemon exited: $(cat "$E2E_TMP/keyring.log")"
    sleep 0.1
  done
  probe="probe-$RANDOM"
  printf '%s' "$probe" | secret-tool store --label=e2e-probe e2e-desktop probe ||
    die "the keyring refuses to store (is it unlocked?): $(cat "$E2E_TMP/keyring.log")"
  [[ "$(secret-tool lookup e2e-desktop probe)" == "$probe" ]] ||
    die "the keyring does not give back what was stored"
  secret-tool clear e2e-desktop probe
  say "keyring unlocked on the private bus"

  # The tests' wall time, for the report.
  start=$(date +%s)
  status=0
  # anyhow's errors say what was awaited; their backtraces only bury it.
  RUST_LIB_BACKTRACE=0 "$CARGO" test --workspace --locked --test desktop -- --test-threads=1 "$@" || status=$?
  say "tests took $(($(date +%s) - start)) s"
  exit "$status"
fi

# ---- outside: build, tools, display -------------------------------------------
for tool in Xvfb dbus-run-session gnome-keyring-daemon secret-tool xdotool /usr/bin/WebKitWebDriver; do
  command -v "$tool" >/dev/null || die "$tool is missing; run make deps-e2e"
done

# PCS_APP_BIN names another build of the app to test (then none is built).
if [[ -z "${PCS_APP_BIN:-}" ]]; then
  # The same release build the package ships (scripts/build-release.sh).
  say "building the release app"
  scripts/build-release.sh || die "the release build of the app"
fi
say "building the fakes and the tests"
# With the package selection of `make unit` (scripts/build-debug.sh says why):
# the fakes come from that build, and the desktop tests (`test = false`, so
# `cargo test --workspace` leaves them out) are built with the same features.
scripts/build-debug.sh || die "building the fakes"
"$CARGO" test --workspace --locked --test desktop --no-run || die "building the desktop tests"

# tauri-driver 2.x, where `cargo install` puts it (CARGO_INSTALL_ROOT, else CARGO_HOME).
scripts/ensure-tools.sh tauri-driver || die "installing tauri-driver"
export PATH="${CARGO_INSTALL_ROOT:-${CARGO_HOME:-$HOME/.cargo}}/bin:$PATH"

E2E_TMP=$(mktemp -d -t pcs-e2e-desktop.XXXXXX)
export E2E_TMP
xvfb_pid=""
cleanup() {
  if [[ -n "$xvfb_pid" ]]; then
    kill "$xvfb_pid" 2>/dev/null || true
    wait "$xvfb_pid" 2>/dev/null || true
  fi
  rm -rf "$E2E_TMP"
}
trap cleanup EXIT

# Xvfb picks a free display itself and writes its number to fd 3.
Xvfb -displayfd 3 -screen 0 1600x1400x24 -nolisten tcp 3>"$E2E_TMP/display" 2>"$E2E_TMP/xvfb.log" &
xvfb_pid=$!
for _ in $(seq 100); do
  [[ -s "$E2E_TMP/display" ]] && break
  kill -0 "$xvfb_pid" 2>/dev/null || die "Xvfb exited: $(cat "$E2E_TMP/xvfb.log")"
  sleep 0.1
done
[[ -s "$E2E_TMP/display" ]] || die "Xvfb did not start"
export DISPLAY=":$(tr -d '[:space:]' <"$E2E_TMP/display")"
say "Xvfb on $DISPLAY"

XDG_RUNTIME_DIR="$E2E_TMP/run"
mkdir -m 700 "$XDG_RUNTIME_DIR"
export XDG_RUNTIME_DIR
# Nothing of a desktop session this shell may run in leaks into the tests.
unset DBUS_SESSION_BUS_ADDRESS GNOME_KEYRING_CONTROL WAYLAND_DISPLAY

dbus-run-session -- "$0" --inside-session "$@"
