#!/usr/bin/env bash
# Runs third-party clients against the fakes (issue 15): pylotoncycle against the fake
# Peloton, codaio against the fake Coda, and schemathesis against the fake Coda with
# Coda's own OpenAPI document. The fakes must answer as the real services do to clients
# that work against them.
#
# The virtualenv (Debian's python3-venv, packages pinned in
# tests/third-party/requirements.txt, from PyPI) lives in the build folder, outside the
# clone, and is rebuilt only when the requirements change. The last line is pytest's
# summary ("N passed in Xs"); the exit code is non-zero when any check fails.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${CARGO_TARGET_DIR:-$PWD/target}"
venv="$target/third-party-venv"
requirements=tests/third-party/requirements.txt
python=/usr/bin/python3

if ! "$python" -c 'import ensurepip, venv' 2>/dev/null; then
  echo "Debian's python3-venv is missing: run 'make deps-e2e' (or apt-get install python3-venv)." >&2
  exit 1
fi

stamp="$venv/.requirements.sha256"
want="$(sha256sum "$requirements" | cut -d' ' -f1)"
if [[ ! -x "$venv/bin/python" || "$(cat "$stamp" 2>/dev/null)" != "$want" ]]; then
  echo "Creating the third-party virtualenv in $venv"
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
  echo "$want" >"$stamp"
fi

# The fakes come from the one debug build of `make test` (scripts/build-debug.sh).
scripts/build-debug.sh --quiet
export FAKE_PELOTON_BIN="$target/debug/fake-peloton"
export FAKE_CODA_BIN="$target/debug/fake-coda"

# Run from the tests' folder (codaio reads a .env from the working directory; there is
# none there), leaving no bytecode or cache files in the clone.
cd tests/third-party
export PYTHONDONTWRITEBYTECODE=1
exec "$venv/bin/python" -m pytest -p no:cacheprovider -q .
