#!/usr/bin/env bash
# `make package-test` (part of `make test`): the .deb as a person uses it.
# Builds it (scripts/package.sh), checks what it holds, installs it with
# `apt-get install ./<file>.deb`, starts the installed app under Xvfb in a
# private D-Bus session (an unlocked gnome-keyring holding the Coda token)
# with launch at login switched on in its settings, waits (at most 60 s)
# until its tray menu is on the bus, checks the login item it wrote starts
# the installed binary tray-only, runs the installed CLI's `check` against
# the fake Peloton and fake Coda, quits the app and removes the package,
# which must leave the user's settings, state, logs and keychain entries
# alone (then clears those the way the README says). Any failing
# step fails the test; every process started and the package are cleaned up
# on the way out, whatever happened.
#
# Needs root (or sudo) for apt-get, and the apt packages of `make deps-e2e`.
set -euo pipefail
# The fake Peloton's built-in test account (tests/fake-peloton), not a real credential.
FAKE_PELOTON_PASSWORD='correct horse'

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  CARGO="$HOME/.cargo/bin/cargo"
fi
PACKAGE=peloton-coda-sync
APP=/usr/bin/peloton-coda-sync-app
CLI=/usr/bin/peloton-coda-sync
# How long the installed app may take to put its tray on the bus.
TRAY_WAIT_S=${TRAY_WAIT_S:-60}

say() { echo "package-test: $*" >&2; }
die() {
  say "FAILED: $*"
  exit 1
}

# Calls a D-Bus method on the session bus; prints dbus-send's reply.
bus() {
  local dest=$1 path=$2 method=$3
  shift 3
  dbus-send --session --print-reply --reply-timeout=2000 --dest="$dest" "$path" "$method" "$@"
}

# Prints the unique bus names of the connections process $1 opened (the app
# has several: GTK's, the keychain's, ...).
names_of_pid() {
  local pid=$1 name
  for name in $(bus org.freedesktop.DBus / org.freedesktop.DBus.ListNames |
    sed -n 's/^ *string "\(:[^"]*\)"$/\1/p'); do
    if bus org.freedesktop.DBus / org.freedesktop.DBus.GetConnectionUnixProcessID \
      string:"$name" 2>/dev/null | grep -qw "uint32 $pid"; then
      echo "$name"
    fi
  done
}

# Prints the labels of the tray menu the app ($1 its pid) serves on the bus:
# its StatusNotifierItem (libayatana-appindicator files it under
# /org/ayatana/NotificationItem/<id>) and that item's com.canonical.dbusmenu.
tray_menu() {
  local pid=$1 name item menu
  for name in $(names_of_pid "$pid"); do
    item=$(bus "$name" /org/ayatana/NotificationItem org.freedesktop.DBus.Introspectable.Introspect 2>/dev/null |
      sed -n 's/.*<node name="\([^"]*\)".*/\1/p' | head -n 1)
    [[ -n "$item" ]] || continue
    menu=$(bus "$name" "/org/ayatana/NotificationItem/$item" org.freedesktop.DBus.Properties.Get \
      string:org.kde.StatusNotifierItem string:Menu 2>/dev/null |
      sed -n 's/.*object path "\([^"]*\)".*/\1/p')
    [[ -n "$menu" ]] || continue
    bus "$name" "$menu" com.canonical.dbusmenu.GetLayout int32:0 int32:-1 array:string:label 2>/dev/null |
      sed -n '/string "label"/{n;s/.*variant *string "\(.*\)"$/\1/p}'
    return 0
  done
  return 1
}

# ---- inside the private D-Bus session ---------------------------------------
if [[ "${1:-}" == "--inside-session" ]]; then
  app_pid=""
  keyring_pid=""
  cleanup_inside() {
    local pid
    for pid in "$app_pid" "$keyring_pid"; do
      if [[ -n "$pid" ]]; then
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
      fi
    done
  }
  trap cleanup_inside EXIT

  # A keyring unlocked as a login session leaves it, its files under the
  # run's temporary folder; the Coda token is in it, as Settings puts it
  # (the keyring crate's attributes), and not in the environment.
  printf '%s' "pt-$RANDOM$RANDOM" |
    XDG_DATA_HOME="$PT_TMP/keyring-data" \
      gnome-keyring-daemon --foreground --unlock --components=secrets \
      >"$PT_TMP/keyring.log" 2>&1 &
  keyring_pid=$!
  for _ in $(seq 100); do
    bus org.freedesktop.DBus / org.freedesktop.DBus.NameHasOwner \
      string:org.freedesktop.secrets 2>/dev/null | grep -q 'boolean true' && break
    kill -0 "$keyring_pid" 2>/dev/null || die "gnome-keyring-daemon exited: $(cat "$PT_TMP/keyring.log")"
    sleep 0.1
  done
  coda_token=(service "$PACKAGE" username coda-api-token target default)
  printf '%s' "$PT_CODA_TOKEN" | secret-tool store --label="coda token" "${coda_token[@]}" ||
    die "the keyring refuses to store: $(cat "$PT_TMP/keyring.log")"

  say "starting $APP"
  "$APP" >"$PT_TMP/app.log" 2>&1 &
  app_pid=$!
  menu=""
  deadline=$((SECONDS + TRAY_WAIT_S))
  while ((SECONDS < deadline)); do
    kill -0 "$app_pid" 2>/dev/null || die "the installed app exited: $(cat "$PT_TMP/app.log")"
    menu=$(tray_menu "$app_pid" || true)
    [[ -n "$menu" ]] && break
    sleep 0.2
  done
  [[ -n "$menu" ]] || die "no tray menu on the bus after ${TRAY_WAIT_S} s; app log: $(cat "$PT_TMP/app.log")"
  say "tray menu on the bus: $(paste -sd '|' <<<"$menu")"
  grep -qx 'Sync now' <<<"$menu" && grep -qx 'Quit' <<<"$menu" ||
    die "the tray menu lacks Sync now or Quit"

  # Launch at login is on in settings.toml: the app's login item must start
  # the installed binary, tray only (not a build folder, not a window).
  entry="$HOME/.config/autostart/$PACKAGE.desktop"
  deadline=$((SECONDS + 10))
  while [[ ! -s "$entry" ]] && ((SECONDS < deadline)); do sleep 0.1; done
  [[ -s "$entry" ]] || die "launch at login is on, but the app wrote no $entry"
  exec_line=$(grep '^Exec=' "$entry") || die "$entry has no Exec line"
  [[ "$exec_line" == "Exec=$APP --minimized" ]] ||
    die "the login item runs '${exec_line#Exec=}', not '$APP --minimized'"
  say "login item: $exec_line"

  say "running $CLI check against the fakes"
  "$CLI" check || die "$CLI check failed (above)"

  kill "$app_pid"
  wait "$app_pid" 2>/dev/null || true
  app_pid=""

  say "apt-get remove $PACKAGE"
  DEBIAN_FRONTEND=noninteractive $PT_SUDO apt-get remove -y -q "$PACKAGE" >"$PT_TMP/apt.log" 2>&1 ||
    die "apt-get remove: $(cat "$PT_TMP/apt.log")"
  for f in "$APP" "$CLI" "$PT_DESKTOP"; do
    [[ ! -e "$f" ]] || die "$f is still there after the removal"
  done
  # What is the user's stays: settings, local state, logs, keychain entries.
  [[ -s "$XDG_CONFIG_HOME/$PACKAGE/settings.toml" ]] || die "the removal took the user's settings"
  [[ -s "$XDG_DATA_HOME/$PACKAGE/state.db" ]] || die "the local state is gone after the removal"
  [[ -d "$XDG_STATE_HOME/$PACKAGE/logs" ]] || die "the logs are gone after the removal"
  [[ "$(secret-tool lookup "${coda_token[@]}")" == "$PT_CODA_TOKEN" ]] ||
    die "the Coda token is gone from the keychain after the removal"
  say "removed; settings, state, logs and keychain entries left alone"

  # The README's way to remove the keychain entries too.
  secret-tool clear service "$PACKAGE"
  [[ -z "$(secret-tool search --all service "$PACKAGE" 2>/dev/null)" ]] ||
    die "secret-tool clear service $PACKAGE left entries"
  exit 0
fi

# ---- outside: build, install, display -----------------------------------------
for tool in Xvfb dbus-run-session dbus-send gnome-keyring-daemon secret-tool dpkg-deb apt-get; do
  command -v "$tool" >/dev/null || die "$tool is missing; run make deps-e2e"
done
sudo=""
if [[ $(id -u) -ne 0 ]]; then
  command -v sudo >/dev/null || die "installing a package needs root (or sudo)"
  sudo="sudo"
fi
# The test removes the package at the end: never someone's real install.
if dpkg-query -W -f='${Status}' "$PACKAGE" 2>/dev/null | grep -q "install ok installed"; then
  die "$PACKAGE is already installed here; the test installs and removes it, so remove it first (apt-get remove $PACKAGE)"
fi

start=$SECONDS
deb=$(scripts/package.sh) || die "building the package"
say "package built in $((SECONDS - start)) s: $deb"

# What the package says and holds.
info=$(dpkg-deb -I "$deb")
[[ "$(dpkg-deb -f "$deb" Package)" == "$PACKAGE" ]] || die "the package is not named $PACKAGE"
depends=$(dpkg-deb -f "$deb" Depends)
for dep in libwebkit2gtk-4.1-0 libayatana-appindicator3-1; do
  grep -qw "$dep" <<<"$depends" || die "Depends lacks $dep: $depends"
done
grep -q '^ Description: .' <<<"$info" || die "the package has no description"
# One path a line, as ./usr/... (dpkg-deb writes the leading ./; the sed
# keeps the check true for an archive written without it).
contents=$(dpkg-deb --fsys-tarfile "$deb" | tar -t | sed 's|^\./||; s|^|./|')
for f in ./usr/bin/peloton-coda-sync ./usr/bin/peloton-coda-sync-app; do
  grep -qx "$f" <<<"$contents" || die "the package lacks $f"
done
grep -qx '\./usr/share/applications/peloton-coda-sync-app\.desktop' <<<"$contents" ||
  die "the package has no desktop entry peloton-coda-sync-app.desktop"
# Root owns every file, whoever built the package.
if dpkg-deb --fsys-tarfile "$deb" | tar -tv | awk '$2 != "root/root"' | grep .; then
  die "the package holds files not owned by root (above)"
fi
for size in 32x32 128x128 256x256 512x512; do
  grep -qx "./usr/share/icons/hicolor/$size/apps/peloton-coda-sync-app.png" <<<"$contents" ||
    die "the package lacks the $size icon"
done
if grep -Ei 'fixture|fake-|/e2e|desktop-e2e|bench|faults' <<<"$contents"; then
  die "the package holds test files (above)"
fi

say "building the fakes"
# The fakes, from the one debug build of `make test` (scripts/build-debug.sh).
scripts/build-debug.sh || die "building the fakes"
target_dir=$("$CARGO" metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="${target_dir:-target}/debug"

PT_TMP=$(mktemp -d -t pcs-package-test.XXXXXX)
export PT_TMP
pids=()
installed=""
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ -n "$installed" ]]; then
    DEBIAN_FRONTEND=noninteractive $sudo apt-get remove -y -qq "$PACKAGE" >/dev/null 2>&1 || true
  fi
  rm -rf "$PT_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

say "apt-get install $deb"
installed=yes
# apt reads a local file by path; "./" or an absolute path tells it so.
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q "$deb" >"$PT_TMP/apt.log" 2>&1 ||
  die "apt-get install: $(cat "$PT_TMP/apt.log")"
for f in "$APP" "$CLI"; do
  [[ -x "$f" ]] || die "$f is not there after the install"
done
desktop=$(grep -l "^Exec=peloton-coda-sync-app" /usr/share/applications/*.desktop 2>/dev/null | head -n 1) ||
  die "no desktop entry for the app in /usr/share/applications"
grep -q '^Icon=peloton-coda-sync-app$' "$desktop" || die "$desktop names no app icon"
[[ "$("$CLI" --version 2>&1)" == *"$(dpkg-deb -f "$deb" Version)"* ]] ||
  die "$CLI --version does not give the package's version"
say "installed: $APP, $CLI, $desktop"

# Prints the URL a fake announces on its first stdout line.
url_of() {
  local out=$1 name=$2 line
  for _ in $(seq 1 100); do
    line=$(head -n 1 "$out" 2>/dev/null || true)
    if [[ $line == "listening on "* ]]; then
      echo "${line#listening on }"
      return 0
    fi
    sleep 0.1
  done
  die "$name did not start: $(cat "$PT_TMP/$name.err")"
}
"$bin/fake-peloton" --port 0 >"$PT_TMP/fake-peloton.out" 2>"$PT_TMP/fake-peloton.err" &
pids+=($!)
"$bin/fake-coda" --port 0 --no-rate-limits >"$PT_TMP/fake-coda.out" 2>"$PT_TMP/fake-coda.err" &
pids+=($!)
peloton_url=$(url_of "$PT_TMP/fake-peloton.out" fake-peloton)
coda_url=$(url_of "$PT_TMP/fake-coda.out" fake-coda)
say "fake Peloton at $peloton_url, fake Coda at $coda_url"

# A fresh user: nothing of this machine's own setup is read or touched.
home="$PT_TMP/home"
config="$home/.config/$PACKAGE"
mkdir -p "$config"
cat >"$config/settings.toml" <<'EOF'
peloton_email = "rider@example.com"
coda_doc = "AbCDeFGH"
launch_at_login = true
EOF
mkdir -m 700 "$PT_TMP/run"

# Xvfb picks a free display itself and writes its number to fd 3.
Xvfb -displayfd 3 -screen 0 1280x1024x24 -nolisten tcp 3>"$PT_TMP/display" 2>"$PT_TMP/xvfb.log" &
pids+=($!)
for _ in $(seq 100); do
  [[ -s "$PT_TMP/display" ]] && break
  sleep 0.1
done
[[ -s "$PT_TMP/display" ]] || die "Xvfb did not start: $(cat "$PT_TMP/xvfb.log")"
display=":$(tr -d '[:space:]' <"$PT_TMP/display")"
say "Xvfb on $display"

status=0
env -u DBUS_SESSION_BUS_ADDRESS -u WAYLAND_DISPLAY -u GNOME_KEYRING_CONTROL -u RUST_LOG \
  DISPLAY="$display" \
  HOME="$home" \
  XDG_CONFIG_HOME="$home/.config" \
  XDG_DATA_HOME="$home/.local/share" \
  XDG_STATE_HOME="$home/.local/state" \
  XDG_RUNTIME_DIR="$PT_TMP/run" \
  PELOTON_USERNAME="rider@example.com" \
  PELOTON_PASSWORD="$FAKE_PELOTON_PASSWORD" \
  CODA_DOC="AbCDeFGH" \
  PT_CODA_TOKEN="coda-test-token" \
  PT_SUDO="$sudo" \
  PT_DESKTOP="$desktop" \
  PELOTON_API_URL="$peloton_url" \
  PELOTON_AUTH_URL="$peloton_url" \
  CODA_API_URL="$coda_url" \
  dbus-run-session -- "$0" --inside-session || status=$?
((status == 0)) || die "the installed app, CLI or removal (above)"
installed=""
say "passed in $((SECONDS - start)) s"
