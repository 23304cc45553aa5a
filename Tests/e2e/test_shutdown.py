"""Graceful shutdown: on SIGTERM the sidecar stops accepting at once, lets the request in flight finish
(here a 200 MB upload), then exits 0; past --drain-timeout it closes what is left and still exits 0."""
import os
import signal
import socket
import threading
import time
import urllib.error
import urllib.request
import uuid

import pytest
from botocore.exceptions import ClientError

import e2e_support as e2e

MB = 1024 * 1024


@pytest.fixture
def draining_sidecar(sidecar_bin, moto, credentials_file, tmp_path, request):
    drain = getattr(request, "param", 60)
    admin_port = e2e.free_port()
    service = e2e.start_service(
        "s3-sidecar (shutdown)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", credentials_file, "--drain-timeout", str(drain),
            "--admin-listen", f"127.0.0.1:{admin_port}",
        ],
        str(tmp_path / "sidecar.log"),
        ready_timeout=30,
    )
    service.admin_port = admin_port
    yield service
    service.stop()


def readyz(service):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{service.admin_port}/readyz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


class Upload(threading.Thread):
    """A signed UNSIGNED-PAYLOAD PUT of `size` bytes sent in 1 MiB pieces; pauses after `pause_at` bytes
    until `proceed` is set (or gives up sending if `stall`)."""

    def __init__(self, url, size, pause_at, stall=False):
        super().__init__(daemon=True)
        self.url, self.size, self.pause_at, self.stall = url, size, pause_at, stall
        self.paused = threading.Event()
        self.proceed = threading.Event()
        self.result = None
        self.error = None

    def run(self):
        try:
            parts = e2e.urlsplit(self.url)
            headers = e2e.sign_headers("PUT", self.url, unsigned=True)
            headers["host"] = parts.netloc
            headers["content-length"] = str(self.size)
            # The sidecar answers 100 Continue only once the request is authenticated and has its upstream
            # connection: from then on it is in flight, whatever the machine's load.
            headers["expect"] = "100-continue"
            conn = socket.create_connection((parts.hostname, parts.port), timeout=60)
            head = f"PUT {parts.path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            conn.sendall(head.encode())
            interim = read_head(conn)
            if not interim.startswith(b"HTTP/1.1 100"):
                raise AssertionError(f"no 100 Continue: {interim!r}")
            piece = os.urandom(MB)
            sent = 0
            while sent < self.size:
                if sent >= self.pause_at and not self.paused.is_set():
                    self.paused.set()
                    if self.stall:
                        time.sleep(30)  # the sidecar gives up on us first
                    self.proceed.wait(30)
                n = min(MB, self.size - sent)
                conn.sendall(piece[:n])
                sent += n
            self.result = read_response(conn)
            conn.close()
        except Exception as error:  # reported by the test
            self.error = error
            self.paused.set()


def read_head(conn, buffered=b""):
    """Reads one response head; returns it with whatever of the body came along."""
    data = buffered
    while b"\r\n\r\n" not in data:
        piece = conn.recv(65536)
        if not piece:
            raise ConnectionError(f"closed before a response head: {data!r}")
        data += piece
    return data


def read_response(conn):
    """(status, body) of a Content-Length framed response."""
    data = read_head(conn)
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        piece = conn.recv(65536)
        if not piece:
            break
        body += piece
    return status, body


def wait_for_log(service, text, timeout=10):
    deadline = time.time() + timeout
    while text not in service.tail(400):
        assert time.time() < deadline, f"{text!r} never logged\n{service.tail()}"
        time.sleep(0.1)


def assert_clean_drain_log(service):
    """A clean drain logs no error: nothing at level error, and nothing NIO prints on its own (such as
    scheduling on an event loop that was already shut down)."""
    log = service.tail(400)
    assert "ERROR" not in log and " error " not in log and "critical" not in log, log


def test_sigterm_lets_an_inflight_200mb_upload_finish_refuses_new_connections_and_exits_0(draining_sidecar, moto_s3, bucket):
    service = draining_sidecar
    key = f"drain/{uuid.uuid4().hex}.bin"
    upload = Upload(e2e.object_url(service.url, bucket, key), 200 * MB, pause_at=20 * MB)
    upload.start()
    assert upload.paused.wait(60), "the upload never got going"
    assert upload.error is None, upload.error

    # An idle keep-alive connection (one request answered, the connection kept), which the drain closes
    # rather than waits for.
    idle = socket.create_connection(("127.0.0.1", service.port), timeout=10)
    idle.sendall(f"GET /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{service.port}\r\n\r\n".encode())
    answer = b""
    while b"</Error>" not in answer:  # the whole S3 error body, so nothing is left unread
        piece = idle.recv(65536)
        assert piece, answer
        answer += piece
    assert answer.startswith(b"HTTP/1.1 403") and b"Connection: close" not in answer, answer
    e2e.wait_for_port(service.admin_port, service.proc, 10)
    assert readyz(service) == 200

    os.kill(service.proc.pid, signal.SIGTERM)
    wait_for_log(service, "shutting down")
    # A load balancer asking now is told to send nothing more.
    assert readyz(service) == 503
    # The listener closes right after the log line; on a loaded machine that may take a moment.
    deadline = time.time() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", service.port), timeout=5).close()
        except ConnectionRefusedError:
            break
        assert time.time() < deadline, "new connections are still accepted after SIGTERM"
        time.sleep(0.05)
    assert idle.recv(1) == b"", "an idle connection must be closed by the drain"
    idle.close()

    upload.proceed.set()
    upload.join(120)
    assert upload.error is None, upload.error
    status, body = upload.result
    assert status == 200, body
    assert service.proc.wait(timeout=30) == 0, service.tail()
    assert_clean_drain_log(service)
    assert moto_s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == 200 * MB


@pytest.mark.parametrize("draining_sidecar", [2], indirect=True)
def test_drain_timeout_closes_a_stalled_upload_which_is_not_stored_and_exit_is_0(draining_sidecar, moto_s3, bucket):
    service = draining_sidecar
    key = f"drain/{uuid.uuid4().hex}.bin"
    upload = Upload(e2e.object_url(service.url, bucket, key), 10 * MB, pause_at=1 * MB, stall=True)
    upload.start()
    assert upload.paused.wait(30)
    started = time.monotonic()
    os.kill(service.proc.pid, signal.SIGTERM)
    assert service.proc.wait(timeout=20) == 0, service.tail()
    assert time.monotonic() - started >= 1.5, "exited before the drain time"
    assert "drain timeout reached" in service.tail(200)
    with pytest.raises(ClientError):
        moto_s3.head_object(Bucket=bucket, Key=key)


def test_sigint_with_nothing_in_flight_exits_0_at_once(draining_sidecar):
    service = draining_sidecar
    e2e.s3_client(service.url).list_buckets()
    started = time.monotonic()
    os.kill(service.proc.pid, signal.SIGINT)
    assert service.proc.wait(timeout=10) == 0, service.tail()
    assert time.monotonic() - started < 8
    assert_clean_drain_log(service)
