#!/usr/bin/env bash
# `make cold-test`: how long `make test` takes on a machine that has built
# nothing. Clones this branch's HEAD (committed work only) into a temporary
# folder, gives it a fresh CARGO_TARGET_DIR and a fresh CARGO_INSTALL_ROOT
# (first on PATH, so cargo tools installed elsewhere on this machine, such as
# ~/.cargo/bin/cargo-deny, cannot hide what installing them costs), then runs
# the stages of `make test` one by one (the Makefile's TEST_STAGES) and prints
# the wall time of each and the total.
#
#   scripts/cold-test.sh           the cold run
#   scripts/cold-test.sh --warm    then every stage again on the same clone and
#                                  build: the warm time of a `make test` that
#                                  has nothing to rebuild
#
# Not cold: the apt packages (installed once per machine; the deps stage
# still checks them), the Rust toolchain and cargo's download cache
# (~/.cargo/registry), so the numbers leave out downloading the crates.
# Each stage's output goes to <tmp>/logs/<stage>.log; the temporary folder is
# removed at the end unless KEEP=1. package-test installs the .deb
# system-wide (and removes it), as `make test` does.
set -euo pipefail

root=$(git -C "$(dirname "$0")/.." rev-parse --show-toplevel)
warm=""
case "${1:-}" in
  --warm) warm=yes ;;
  "") ;;
  *)
    echo "usage: $0 [--warm]" >&2
    exit 2
    ;;
esac

head=$(git -C "$root" rev-parse HEAD)
if [[ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]]; then
  echo "cold-test: note: uncommitted changes are not part of the clone; testing $head" >&2
fi

tmp=$(mktemp -d "${TMPDIR:-/var/tmp}/pcs-cold-test.XXXXXX")
cleanup() {
  if [[ "${KEEP:-}" == 1 ]]; then
    echo "cold-test: kept $tmp"
  else
    rm -rf "$tmp"
  fi
}
trap cleanup EXIT

git clone --quiet --no-hardlinks "$root" "$tmp/clone"
git -C "$tmp/clone" checkout --quiet --detach "$head"

export CARGO_TARGET_DIR="$tmp/target"
export CARGO_INSTALL_ROOT="$tmp/tools"
export PATH="$CARGO_INSTALL_ROOT/bin:$PATH"
export CARGO_TERM_COLOR=never
mkdir -p "$tmp/logs" "$CARGO_INSTALL_ROOT/bin"

stages=$(make -s -C "$tmp/clone" print-test-stages)
# The names the report uses; deps-e2e is the apt packages of both lists.
label() {
  case $1 in
    deps-e2e) echo deps ;;
    *) echo "$1" ;;
  esac
}

# Runs every stage once; prints "<label> <seconds> ..." lines as they end
# and "total <seconds> ..." at the end. $1 names the run (cold or warm).
# Next to the wall time, each line gives the CPU time (user + system) of the
# stage and everything it ran, and the load average when it started: on a
# shared machine the wall time is an upper bound, and the CPU time divided
# by the cores is about what an idle machine of that size needs for the
# compiling stages.
run_stages() {
  local run=$1 stage start took cpu load total=0 total_cpu=0 times
  local TIMEFORMAT='%U %S'
  echo "cold-test: $run run of $head in $tmp/clone ($(nproc) cores)"
  for stage in $stages; do
    load=$(cut -d' ' -f1 /proc/loadavg)
    start=$(date +%s)
    if ! { time make -C "$tmp/clone" "$stage" >"$tmp/logs/$run-$stage.log" 2>&1; } 2>"$tmp/times"; then
      took=$(($(date +%s) - start))
      printf '%-13s %6d s  FAILED (log: %s)\n' "$(label "$stage")" "$took" "$tmp/logs/$run-$stage.log"
      tail -n 40 "$tmp/logs/$run-$stage.log" | sed 's/^/    /'
      KEEP=1
      exit 1
    fi
    took=$(($(date +%s) - start))
    read -r -a times <"$tmp/times"
    cpu=$(awk -v u="${times[0]}" -v s="${times[1]}" 'BEGIN { printf "%d", u + s }')
    total=$((total + took))
    total_cpu=$((total_cpu + cpu))
    printf '%-13s %6d s  (%d min %02d s)  cpu %6d s  load %s\n' "$(label "$stage")" "$took" \
      $((took / 60)) $((took % 60)) "$cpu" "$load"
  done
  printf '%-13s %6d s  (%d min %02d s)  cpu %6d s  %s run, finished %s\n' total "$total" \
    $((total / 60)) $((total % 60)) "$total_cpu" "$run" "$(date -u +%H:%M:%SZ)"
}

run_stages cold
if [[ -n "$warm" ]]; then
  run_stages warm
fi
