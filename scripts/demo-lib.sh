# What both demos share (sourced by scripts/demo.sh and scripts/demo-app.sh):
# the fakes' test credentials, finding cargo and the target folder, a
# temporary folder and the processes started, both ended on exit, and
# starting a fake on a port.
#
# A script that sources it sets `say`, calls `demo_start` once it knows it
# will run, and may define `demo_on_exit` (run before the temporary folder
# is removed).

# The fakes' built-in test credentials (tests/fake-peloton, tests/fake-coda), not real ones.
FAKE_PELOTON_PASSWORD='correct horse'
FAKE_CODA_TOKEN='coda-test-token'
FAKE_CODA_DOC='AbCDeFGH'

cd "$(dirname "${BASH_SOURCE[0]}")/.."
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  CARGO="$HOME/.cargo/bin/cargo"
fi

# Prints the target folder, wherever it is (CARGO_TARGET_DIR, .cargo/config.toml).
target_dir() {
  local dir
  dir=$("$CARGO" metadata --format-version 1 --no-deps |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
  echo "${dir:-target}"
}

tmp=""
pids=()
demo_cleanup() {
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  if declare -F demo_on_exit >/dev/null; then
    demo_on_exit
  fi
  if [[ -n "$tmp" ]]; then
    rm -rf "$tmp"
  fi
}

# Makes the temporary folder ($tmp) and ends everything on the way out.
demo_start() {
  tmp=$(mktemp -d -t pcs-demo.XXXXXX)
  trap demo_cleanup EXIT
  trap 'exit 130' INT TERM
}

# Starts the fake binary $fakes/$1 on port $2 (0 for any free one), with the
# rest as its arguments, and sets fake_url to the URL it announces. A taken
# port makes it exit, and then it is started on another. (Not in a $(...)
# subshell: its pid must reach `pids`.)
fake_url=""
start_fake() {
  local name=$1 port=$2
  shift 2
  local attempt
  for attempt in "$port" 0; do
    "$fakes/$name" --port "$attempt" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err" &
    local pid=$!
    local i line
    for i in $(seq 1 100); do
      line=$(head -n 1 "$tmp/$name.out" 2>/dev/null || true)
      if [[ $line == "listening on "* ]]; then
        pids+=("$pid")
        fake_url=${line#listening on }
        return 0
      fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    if [[ $attempt == 0 ]]; then
      break
    fi
    say "port $attempt is taken; $name takes another."
  done
  say "$name did not start: $(cat "$tmp/$name.err")"
  return 1
}
