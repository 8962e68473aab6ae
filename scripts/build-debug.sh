#!/usr/bin/env bash
# The one debug build of `make test`: every target of the workspace that
# `cargo test --workspace` builds (the CLI, the fakes, the fault matrix, the
# test binaries), with one package selection and one feature set.
#
# Why one: cargo unifies features over the packages a command selects, so
# `cargo build -p fake-peloton -p fake-coda` after `cargo test --workspace`
# rebuilds about thirty shared crates (tokio, serde, ...) with other
# features, and every stage that picks its own packages pays that again. The
# stages call this instead and then run the binaries from the target folder;
# after `make unit` it only links what the tests did not need.
#
# The desktop end-to-end tests (`test = false` in tests/desktop) are built by
# `make e2e` with the same selection: `cargo test --workspace --test desktop`.
# Prints nothing on stdout (cargo talks on stderr); arguments go to cargo.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO=${CARGO:-cargo}
if ! command -v "$CARGO" >/dev/null 2>&1 && [[ -x "$HOME/.cargo/bin/cargo" ]]; then
  CARGO="$HOME/.cargo/bin/cargo"
fi
"$CARGO" build --workspace --all-targets --locked "$@" >&2
