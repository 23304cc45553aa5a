"""Fixtures for the end-to-end tests: a real S3 (moto_server) on loopback, the sidecar in front of it in
each upstream mode, and clients pointed at the sidecar.

The sidecar binary: $S3_SIDECAR_BIN, else the newest of .build/release/s3-sidecar and
.build/debug/s3-sidecar. Every process runs in its own process group and is killed at the end of the
session, whatever happened; on a failing test the tails of their logs are attached to the report.
"""
import json
import os
import signal
import sys
import uuid
from pathlib import Path

import pytest

import e2e_support as e2e

REPO = Path(__file__).resolve().parents[2]
TEST_TIMEOUT = int(os.environ.get("E2E_TEST_TIMEOUT", "120"))  # seconds per test, a safety net only

_services = []  # everything started, for the failure report


def _find_binary():
    explicit = os.environ.get("S3_SIDECAR_BIN")
    if explicit:
        if not os.access(explicit, os.X_OK):
            pytest.fail(f"S3_SIDECAR_BIN={explicit} is not an executable file", pytrace=False)
        return explicit
    candidates = [REPO / ".build" / c / "s3-sidecar" for c in ("release", "debug")]
    existing = [c for c in candidates if os.access(c, os.X_OK)]
    if not existing:
        pytest.fail(
            "no sidecar binary: build it with `swift build -c release --product s3-sidecar` "
            "or set S3_SIDECAR_BIN",
            pytrace=False,
        )
    return str(max(existing, key=lambda c: c.stat().st_mtime))


@pytest.fixture(scope="session")
def sidecar_bin():
    return _find_binary()


@pytest.fixture(scope="session")
def workdir(tmp_path_factory):
    return tmp_path_factory.mktemp("e2e")


@pytest.fixture(scope="session")
def moto(workdir):
    """moto_server on a free loopback port (it checks no signatures)."""
    service = e2e.start_service(
        "moto_server",
        lambda port: [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        str(workdir / "moto.log"),
        ready_timeout=60,
        # moto must not pick up credentials or config from the machine.
        env={**os.environ, "AWS_CONFIG_FILE": os.devnull, "AWS_SHARED_CREDENTIALS_FILE": os.devnull},
    )
    _services.append(service)
    yield service
    service.stop()


@pytest.fixture(scope="session")
def credentials_file(workdir):
    path = workdir / "creds.json"
    path.write_text(json.dumps({"keys": [{"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY}]}))
    return str(path)


class Sidecars:
    """Starts one sidecar per upstream mode on first use, all in front of the same moto."""

    def __init__(self, binary, upstream, credentials, workdir, label="moto"):
        self.label = label
        self.binary = binary
        self.upstream = upstream
        self.credentials = credentials
        self.workdir = workdir
        self.running = {}

    def argv(self, mode, port):
        argv = [
            self.binary, "serve",
            "--listen", f"127.0.0.1:{port}",
            "--upstream", self.upstream,
            "--mode", mode,
            "--region", e2e.REGION,
            "--credentials", self.credentials,
        ]
        if mode == "resign":
            argv += [
                "--upstream-access-key-id", e2e.UPSTREAM_ACCESS_KEY,
                "--upstream-secret-access-key", e2e.UPSTREAM_SECRET_KEY,
            ]
        return argv

    def __call__(self, mode="passthrough"):
        if mode not in self.running:
            service = e2e.start_service(
                f"s3-sidecar ({mode}, {self.label})",
                lambda port: self.argv(mode, port),
                str(self.workdir / f"sidecar-{mode}-{self.label}.log"),
                ready_timeout=30,
            )
            _services.append(service)
            self.running[mode] = service
        service = self.running[mode]
        if service.proc.poll() is not None:
            pytest.fail(f"the {mode} sidecar died (exit {service.proc.returncode}):\n{service.tail()}", pytrace=False)
        return service

    def stop(self):
        for service in self.running.values():
            service.stop()


@pytest.fixture(scope="session")
def sidecars(sidecar_bin, moto, credentials_file, workdir):
    """`sidecars(mode)` returns the running sidecar for that mode (passthrough by default)."""
    pool = Sidecars(sidecar_bin, moto.url, credentials_file, workdir)
    yield pool
    pool.stop()


@pytest.fixture(scope="session")
def recorder():
    """An in-process HTTP/1.1 upstream that records every request exactly as it arrived."""
    server = e2e.RecordingUpstream()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def recording_sidecars(sidecar_bin, recorder, credentials_file, workdir):
    """`recording_sidecars(mode)`: a sidecar in that mode in front of the recording upstream."""
    pool = Sidecars(sidecar_bin, recorder.url, credentials_file, workdir, label="recorder")
    yield pool
    pool.stop()


@pytest.fixture
def sidecar(sidecars):
    """The passthrough sidecar: moto checks no signatures, so the request goes on as verified."""
    return sidecars("passthrough")


@pytest.fixture(scope="session")
def moto_s3(moto):
    """A boto3 client straight to moto: what the backend really holds."""
    return e2e.s3_client(moto.url, access_key="testing", secret_key="testing")


@pytest.fixture
def bucket(moto_s3):
    """A fresh bucket, created straight in moto."""
    name = f"e2e-{uuid.uuid4().hex[:16]}"
    moto_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture
def client(sidecar):
    """boto3 (default checksum settings) through the passthrough sidecar with the sidecar's key."""
    return e2e.s3_client(sidecar.url)


# MARK: - safety nets


@pytest.fixture(autouse=True)
def _per_test_timeout():
    """Fails a test that runs longer than TEST_TIMEOUT instead of hanging the whole run."""

    def expired(signum, frame):
        raise TimeoutError(f"test took longer than {TEST_TIMEOUT}s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(TEST_TIMEOUT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        for service in _services:
            report.sections.append((f"log of {service.name} (last lines)", service.tail()))


def pytest_sessionfinish(session, exitstatus):
    for service in _services:
        service.stop()
