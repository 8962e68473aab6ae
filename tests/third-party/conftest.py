"""Starts the fake Peloton and fake Coda binaries for the third-party client tests.

scripts/third-party-clients.sh builds the binaries and passes their paths in
FAKE_PELOTON_BIN and FAKE_CODA_BIN. Each fake prints `listening on URL` as its
first line; the fixtures read it, hand the URL to the tests and stop the
process afterwards. Credentials are the fakes' test-only defaults.
"""

import json
import os
import subprocess
import urllib.request
from dataclasses import dataclass

import pytest

CODA_TOKEN = "coda-test-token"
CODA_DOC = "AbCDeFGH"
# The fake Peloton's built-in test account (tests/fake-peloton/src/lib.rs),
# not a real credential.
PELOTON_EMAIL = "rider@example.com"
PELOTON_PASSWORD = 'correct horse'


@dataclass
class Fake:
    """A running fake: its base URL and its control endpoint's origin."""

    url: str
    origin: str
    process: subprocess.Popen

    def control(self, path, body=None):
        """GET (or POST `body` to) a `/__control/...` endpoint; returns the JSON answer."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.origin}/__control/{path}",
            data=data,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            text = resp.read()
        return json.loads(text) if text else None


def start(env_var, *args):
    binary = os.environ.get(env_var)
    if not binary:
        pytest.fail(f"{env_var} is not set: run scripts/third-party-clients.sh")
    process = subprocess.Popen(
        [binary, *args], stdout=subprocess.PIPE, text=True
    )
    first = process.stdout.readline().strip()
    if not first.startswith("listening on "):
        process.kill()
        pytest.fail(f"{binary} did not start: {first!r}")
    url = first.removeprefix("listening on ")
    origin = url.removesuffix("/apis/v1")
    return Fake(url=url, origin=origin, process=process)


def stop(fake):
    fake.process.terminate()
    try:
        fake.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        fake.process.kill()
        fake.process.wait()


@pytest.fixture(scope="module")
def fake_peloton():
    fake = start("FAKE_PELOTON_BIN", "--workouts", "12", "--friends", "2")
    yield fake
    stop(fake)


@pytest.fixture(scope="module")
def fake_coda():
    """Coda as a client meets it: rate limits on, writes applied after 100 ms,
    reads from a snapshot that lags them by 500 ms."""
    fake = start("FAKE_CODA_BIN", "--read-lag-ms", "500")
    yield fake
    stop(fake)


@pytest.fixture(scope="module")
def fake_coda_unlimited():
    """The same fake without rate limits, for many generated requests."""
    fake = start("FAKE_CODA_BIN", "--no-rate-limits", "--mutation-delay-ms", "10")
    yield fake
    stop(fake)


def unexpected_requests(fake):
    """Requests the fake Coda's or Peloton's catch-all answered (a faithful fake sees none
    from a client that works against the real service)."""
    log = fake.control("requests")
    entries = log["requests"] if isinstance(log, dict) else log
    return [e for e in entries if e["unexpected"]]
