"""Graceful shutdown: on SIGTERM the sidecar stops accepting at once, lets the request in flight finish
(here a 200 MB upload), then exits 0; past --drain-timeout it closes what is left and still exits 0."""
import http.client
import os
import signal
import socket
import threading
import time
import uuid

import pytest
from botocore.exceptions import ClientError

import e2e_support as e2e

MB = 1024 * 1024


@pytest.fixture
def draining_sidecar(sidecar_bin, moto, credentials_file, tmp_path, request):
    drain = getattr(request, "param", 60)
    service = e2e.start_service(
        "s3-sidecar (shutdown)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", credentials_file, "--drain-timeout", str(drain),
        ],
        str(tmp_path / "sidecar.log"),
        ready_timeout=30,
    )
    yield service
    service.stop()


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
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            conn.putrequest("PUT", parts.path, skip_host=True, skip_accept_encoding=True)
            conn.putheader("Host", parts.netloc)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.putheader("Content-Length", str(self.size))
            conn.endheaders()
            piece = os.urandom(MB)
            sent = 0
            while sent < self.size:
                if sent >= self.pause_at and not self.paused.is_set():
                    self.paused.set()
                    if self.stall:
                        time.sleep(30)  # the sidecar gives up on us first
                    self.proceed.wait(30)
                n = min(MB, self.size - sent)
                conn.send(piece[:n])
                sent += n
            response = conn.getresponse()
            self.result = (response.status, response.read())
        except Exception as error:  # reported by the test
            self.error = error
            self.paused.set()


def wait_for_log(service, text, timeout=10):
    deadline = time.time() + timeout
    while text not in service.tail(400):
        assert time.time() < deadline, f"{text!r} never logged\n{service.tail()}"
        time.sleep(0.1)


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

    os.kill(service.proc.pid, signal.SIGTERM)
    wait_for_log(service, "shutting down")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", service.port), timeout=5).close()
    assert idle.recv(1) == b"", "an idle connection must be closed by the drain"
    idle.close()

    upload.proceed.set()
    upload.join(120)
    assert upload.error is None, upload.error
    status, body = upload.result
    assert status == 200, body
    assert service.proc.wait(timeout=30) == 0, service.tail()
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
