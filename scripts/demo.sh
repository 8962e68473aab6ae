#!/usr/bin/env bash
# `make demo`: a full sync with the real CLI against the fake Peloton and the
# fake Coda, on this machine and without accounts. Builds the three binaries,
# starts both fakes on free ports (stopped again on exit), runs
# `peloton-coda-sync sync --full` in a throwaway HOME, and prints how many
# rows each Coda table holds afterwards.
#
# WORKOUTS=N changes how many workouts the fake rider has (default 200; the
# sync is paced like the real APIs, about 0.4 s per new workout).
set -euo pipefail
# The fake Peloton's built-in test account (tests/fake-peloton), not a real credential.
FAKE_PELOTON_PASSWORD='correct horse'

cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  CARGO="$HOME/.cargo/bin/cargo"
fi
WORKOUTS=${WORKOUTS:-200}

echo "Building peloton-coda-sync, fake-peloton and fake-coda..."
"$CARGO" build --quiet -p peloton-coda-sync -p fake-peloton -p fake-coda
# Wherever the target folder is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir=$("$CARGO" metadata --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="${target_dir:-target}/debug"

tmp=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Prints the URL a fake announces on its first stdout line.
url_of() {
  local out=$1 name=$2
  for _ in $(seq 1 100); do
    local line
    line=$(head -n 1 "$out" 2>/dev/null || true)
    if [[ $line == "listening on "* ]]; then
      echo "${line#listening on }"
      return 0
    fi
    sleep 0.1
  done
  echo "$name did not start; its stderr:" >&2
  cat "$tmp/$name.err" >&2 || true
  return 1
}

"$bin/fake-peloton" --port 0 --workouts "$WORKOUTS" >"$tmp/fake-peloton.out" 2>"$tmp/fake-peloton.err" &
pids+=($!)
"$bin/fake-coda" --port 0 >"$tmp/fake-coda.out" 2>"$tmp/fake-coda.err" &
pids+=($!)
peloton_url=$(url_of "$tmp/fake-peloton.out" fake-peloton)
coda_url=$(url_of "$tmp/fake-coda.out" fake-coda)
coda_origin=${coda_url%/apis/v1}
echo "Fake Peloton at $peloton_url ($WORKOUTS workouts), fake Coda at $coda_url"

home="$tmp/home"
mkdir -p "$home"
echo "Running: peloton-coda-sync sync --full"
status=0
# A fresh HOME and no D-Bus session: nothing of the user's own setup (or
# keychain) is read or touched.
env -u DBUS_SESSION_BUS_ADDRESS -u RUST_LOG \
  HOME="$home" \
  XDG_CONFIG_HOME="$home/.config" \
  XDG_DATA_HOME="$home/.local/share" \
  XDG_STATE_HOME="$home/.local/state" \
  PELOTON_USERNAME="rider@example.com" \
  PELOTON_PASSWORD="$FAKE_PELOTON_PASSWORD" \
  CODA_API_TOKEN="coda-test-token" \
  CODA_DOC="AbCDeFGH" \
  PELOTON_API_URL="$peloton_url" \
  PELOTON_AUTH_URL="$peloton_url" \
  CODA_API_URL="$coda_url" \
  "$bin/peloton-coda-sync" sync --full || status=$?

# Coda applies accepted writes a moment later; the dump shows applied rows,
# so wait (at most 10 s) until none is queued.
for _ in $(seq 1 100); do
  dump=$(curl -fsS "$coda_origin/__control/dump")
  grep -q '"queuedMutations":0[,}]' <<<"$dump" && break
  sleep 0.1
done
echo
echo "Rows in the fake Coda doc:"
if command -v python3 >/dev/null 2>&1; then
  python3 -c '
import json, sys
for t in json.load(sys.stdin)["tables"]:
    print("  %-16s %5d" % (t["name"], len(t["rows"])))
' <<<"$dump"
else
  echo "$dump"
fi
exit "$status"
