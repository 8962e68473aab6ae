#!/usr/bin/env bash
# `make run`: until the desktop app lands, run the demo sync against the fakes.
exec "$(dirname "$0")/demo.sh" "$@"
