#!/usr/bin/env bash
# Part of `make lint`: the repository stands alone. Fails when a tracked file
# names a path outside it: the sibling reference folder (`../shared`), or a
# machine's own absolute folders (/work/..., /home/<someone>/..., /root/...).
# A clone on a fresh machine has none of them. Cargo.lock is left out (it
# names crates, not paths), and so is this script, which names the patterns.
#
# Made-up home folders the tests feed to the code under test are allowed by
# name (MADE_UP below); any other line that must name such a path anyway
# carries `outside-ok` on the same line.
set -euo pipefail
cd "$(dirname "$0")/.."

# The test user of core/src/paths.rs.
MADE_UP='ann'

# A Perl regular expression for git grep; each alternative says which
# character may come before the path, so URLs (`example.com/work/`) pass.
pattern="(^|[^.[:alnum:]_])\\.\\./shared\\b|(^|[^[:alnum:]_.-])/work/|(^|[^[:alnum:]_.-])/home/(?!(${MADE_UP})\b)[[:alnum:]_.-]+|(^|[^[:alnum:]_.-])/root/"

hits=$(git grep -n -I -P "$pattern" -- . ':(exclude)scripts/check-paths.sh' ':(exclude)Cargo.lock' ':(exclude)*/Cargo.lock' | grep -v 'outside-ok' || true)
if [[ -n "$hits" ]]; then
  echo "check-paths: these tracked lines name a path outside the repository:" >&2
  echo "$hits" >&2
  echo "check-paths: keep what the project reads inside it (tests/fixtures/, docs/)," >&2
  echo "  or mark a made-up path in a test with 'outside-ok' on its line." >&2
  exit 1
fi
