# Peloton Coda Sync: the two commands are `make run` and `make test`.
# Both install what is missing first (apt packages as root, the Rust build),
# and are quiet when everything is already there.

SHELL := /bin/bash
.DEFAULT_GOAL := help
CARGO ?= cargo

# Debian packages the build and the end-to-end tests need (libxml2-utils:
# xmllint checks the TCX exports against Garmin's schema in the unit tests).
APT_BUILD := build-essential pkg-config libssl-dev curl ca-certificates \
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev \
  libxml2-utils
APT_E2E := xvfb dbus-x11 gnome-keyring libsecret-tools dunst webkit2gtk-driver xdotool \
  python3-venv

.PHONY: help deps deps-e2e tools build run demo demo-app test lint unit e2e faults third-party bench package clean

help:
	@echo "make run    - install what is missing, build and start the app"
	@echo "make test   - install what is missing and run every test"
	@echo "make demo   - run a full sync against the fake Peloton and fake Coda"
	@echo "make demo-app - the tray app against the fakes, in a throwaway HOME"
	@echo "make faults - the fault matrix (part of make test)"
	@echo "make bench  - benchmarks (not part of make test)"
	@echo "make cold-test - make test from a fresh clone, every stage timed (slow)"

deps:
	@scripts/ensure-deps.sh $(APT_BUILD)

deps-e2e: deps
	@scripts/ensure-deps.sh $(APT_E2E)

build: deps
	$(CARGO) build --workspace --release

run: deps
	@scripts/run.sh

demo: deps
	@scripts/demo.sh

# The tray app against the fakes; never touches your settings or keychain entries.
demo-app: deps
	@scripts/demo-app.sh

lint: deps tools
	@scripts/check-paths.sh
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings
	$(CARGO) clippy --workspace --locked --test desktop -- -D warnings
	$(CARGO) deny check --hide-inclusion-graph licenses bans
	$(CARGO) machete --with-metadata
	@scripts/import-cycles.pl

# Cargo tools, each installed with --locked when missing and built in the
# target folder's tools/ (scripts/ensure-tools.sh): cargo-deny checks licences
# and banned crates (deny.toml); cargo-machete finds dependencies no
# code uses; tauri-driver 2.x drives the app in `make e2e`.
tools: deps
	@scripts/ensure-tools.sh cargo-deny cargo-machete tauri-driver

# The engine and the CLI against the fakes under every fault; prints the table
# (tests/faults). The CLI is built first: the matrix runs the real binary too.
faults: deps
	@scripts/build-debug.sh
	"$${CARGO_TARGET_DIR:-target}/debug/fault-matrix"

# Third-party clients against the fakes: pylotoncycle, codaio and schemathesis (with
# Coda's OpenAPI document) in a Python virtualenv (scripts/third-party-clients.sh).
third-party: deps-e2e
	@scripts/third-party-clients.sh

# Every test but the desktop ones (`test = false` in tests/desktop: they need
# the display and bus of `make e2e`), so the debug build is the one every
# later stage reuses (scripts/build-debug.sh).
unit: deps
	@scripts/build-debug.sh
	$(CARGO) test --workspace --locked

# The tray app end to end: release build, Xvfb, private D-Bus, keyring, WebDriver.
e2e: deps-e2e tools
	@scripts/e2e-desktop.sh

# The stages run in this order; scripts/cold-test.sh (`make cold-test`) runs
# them one by one from a fresh clone and times each.
TEST_STAGES := deps-e2e tools lint unit faults third-party e2e package-test

test: $(TEST_STAGES)
	@echo "make test: all green"

print-test-stages:
	@echo $(TEST_STAGES)

# A clean clone of this branch's HEAD, fresh target and tools folders, every
# stage of `make test` timed (scripts/cold-test.sh). Not part of `make test`.
cold-test:
	@scripts/cold-test.sh

# Not part of `make test`: the first sync of 1000 workouts takes minutes by design.
# The app and CLI measured are the ones the package ships (scripts/build-release.sh).
bench: deps-e2e
	$(CARGO) build --release --locked -p peloton-coda-sync -p fake-peloton -p fake-coda -p bench
	@bin="$${CARGO_TARGET_DIR:-target}/release"; \
	if scripts/build-release.sh; then \
	  "$$bin/bench" --app "$$bin/peloton-coda-sync-app"; \
	else \
	  "$$bin/bench" --skip-app "skipped: app did not build"; \
	fi

# The Debian package (scripts/package.sh): the release app and CLI of
# scripts/build-release.sh, staged with packaging/deb/ and built by dpkg-deb.
.PHONY: package-test cold-test print-test-stages
package: deps
	@scripts/package.sh

# Builds the .deb, installs it with apt, starts the installed app and CLI
# against the fakes, removes it (scripts/package-test.sh). Part of `make test`.
package-test: deps-e2e
	@scripts/package-test.sh

clean:
	$(CARGO) clean
