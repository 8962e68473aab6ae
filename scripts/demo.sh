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
source "$(dirname "$0")/demo-lib.sh"
WORKOUTS=${WORKOUTS:-200}
say() { echo "demo: $*" >&2; }

echo "Building peloton-coda-sync, fake-peloton and fake-coda..."
"$CARGO" build --quiet -p peloton-coda-sync -p fake-peloton -p fake-coda
bin="$(target_dir)/debug"
fakes=$bin
demo_start

start_fake fake-peloton 0 --workouts "$WORKOUTS"
peloton_url=$fake_url
start_fake fake-coda 0 --doc-id "$FAKE_CODA_DOC" --token "$FAKE_CODA_TOKEN"
coda_url=$fake_url
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
  CODA_API_TOKEN="$FAKE_CODA_TOKEN" \
  CODA_DOC="$FAKE_CODA_DOC" \
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
