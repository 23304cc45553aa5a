"""Helpers for the end-to-end tests: processes on loopback, free ports, hand-signed requests.

Everything here has a timeout; nothing waits forever on a process or a socket.
"""
import contextlib
import datetime
import http.client
import http.server
import os
import signal
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import quote, urlsplit

import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

try:
    import botocore.crt.auth as _crt_auth
except ImportError:  # no awscrt: botocore signs in Python
    _crt_auth = None

REGION = "us-east-1"
# The sidecar's accepted key. The secret has '/', '+' and '=' on purpose: they must never be
# URL-decoded or otherwise mangled on the way into the signing key.
ACCESS_KEY = "AKIAE2ESIDECARTEST01"
SECRET_KEY = "e2e/Secret+Key=With/Slash+Plus=="
# Keys the sidecar does not know / a wrong secret for the known key.
UNKNOWN_ACCESS_KEY = "AKIAE2EUNKNOWNKEY999"
WRONG_SECRET_KEY = "e2e/Secret+Key=With/Slash+Plus=X"
# resign mode: the backend's own key (moto accepts anything).
UPSTREAM_ACCESS_KEY = "AKIAE2EUPSTREAMKEY01"
UPSTREAM_SECRET_KEY = "upstream/Secret+Key=="

IO_TIMEOUT = 30  # seconds, for every socket and client call


def free_port():
    """A TCP port that was free a moment ago on 127.0.0.1."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, proc, timeout, log_path=None):
    """Waits until 127.0.0.1:port accepts connections; fails early if `proc` exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening\n{tail(log_path)}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout}s\n{tail(log_path)}")


def tail(path, lines=40):
    if not path or not os.path.exists(path):
        return ""
    with open(path, "rb") as f:
        data = f.read()[-16384:]
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def _die_with_parent():
    """In the child before exec: SIGKILL this process when the test runner dies (even by SIGKILL),
    so no server outlives an interrupted run. Linux only; elsewhere teardown alone cleans up."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except Exception:
        pass


class Service:
    """A child process in its own process group, with its output in a log file."""

    def __init__(self, name, argv, log_path, port, env=None):
        self.name = name
        self.argv = argv
        self.log_path = log_path
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._stopped = False
        self._log = open(log_path, "wb")
        self.proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=env,
            preexec_fn=_die_with_parent,
        )

    def stop(self):
        """SIGTERM to the whole group, SIGKILL after 5 s; never raises; only the first call acts."""
        if self._stopped:
            return
        self._stopped = True
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.proc.wait(timeout=5)
        else:
            # The leader is gone; children in its group might not be.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()

    def tail(self, lines=40):
        return tail(self.log_path, lines)


def read_log_when(path, text, timeout=30):
    """The log's text once it holds `text`: a process prints its banner just after its port opens, so a
    test that reads the banner must wait for it, not for the port."""
    deadline = time.time() + timeout
    while True:
        content = Path(path).read_text() if Path(path).exists() else ""
        if text in content or time.time() > deadline:
            return content
        time.sleep(0.05)


def start_service(name, make_argv, log_path, ready_timeout, attempts=3, env=None):
    """Starts `make_argv(port)` on a fresh free port, retrying if the port was taken meanwhile."""
    last_error = None
    for _ in range(attempts):
        port = free_port()
        service = Service(name, make_argv(port), log_path, port, env=env)
        try:
            wait_for_port(port, service.proc, ready_timeout, log_path)
            return service
        except RuntimeError as error:
            last_error = error
            service.stop()
    raise RuntimeError(f"{name} did not start: {last_error}")


class RecordingUpstream:
    """A threaded HTTP/1.1 server on loopback that answers 200 and keeps every request it got:
    (method, raw request target, [(header, value)], body)."""

    def __init__(self):
        self.requests = []
        self._lock = threading.Lock()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            timeout = IO_TIMEOUT

            def handle_one_request(self):
                # One method for every verb: record, drain the body, answer.
                try:
                    self.raw_requestline = self.rfile.readline(65537)
                    if not self.raw_requestline or not self.parse_request():
                        self.close_connection = True
                        return
                    if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
                        body = self._read_chunked()
                    else:
                        length = int(self.headers.get("Content-Length") or 0)
                        body = self.rfile.read(length) if length else b""
                    with recorder._lock:
                        recorder.requests.append((self.command, self.path, list(self.headers.items()), body))
                    payload = b"" if self.command == "HEAD" else b"recorded"
                    self.send_response(200)
                    self.send_header("Content-Length", "8")
                    self.send_header("Content-Type", "text/plain")
                    self.end_headers()
                    self.wfile.write(payload)
                    self.wfile.flush()
                except (OSError, ValueError):
                    self.close_connection = True

            def _read_chunked(self):
                """The body of a Transfer-Encoding: chunked request, with its HTTP framing removed."""
                body = b""
                while True:
                    size = int(self.rfile.readline(1024).split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                            pass  # trailer fields
                        return body
                    body += self.rfile.read(size)
                    self.rfile.readline(16)  # the CRLF after the chunk

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
        self._thread.start()

    def take(self):
        """The requests recorded so far, forgetting them."""
        with self._lock:
            taken, self.requests = self.requests, []
        return taken

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


# MARK: - clients


def s3_client(endpoint, access_key=ACCESS_KEY, secret_key=SECRET_KEY, **config):
    """A boto3 S3 client with path addressing and SigV4, pointed at `endpoint`."""
    options = dict(
        signature_version="s3v4",
        s3={"addressing_style": "path"},
        retries={"max_attempts": 1, "mode": "standard"},
        connect_timeout=IO_TIMEOUT,
        read_timeout=IO_TIMEOUT,
        region_name=REGION,
    )
    options.update(config)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=Config(**options),
    )


def object_keys(client, bucket):
    """Every key in `bucket` (a direct moto client shows what the backend really stored)."""
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys.extend(o["Key"] for o in page.get("Contents", []))
    return keys


@contextlib.contextmanager
def signing_clock(when):
    """Makes botocore sign as if the time were `when` (a naive UTC datetime).

    botocore signs with its own SigV4 code or, when awscrt is installed (it comes with awscli), with the
    CRT's; both take the time from `get_current_datetime`, so both are patched.
    """
    aware = when.replace(tzinfo=datetime.timezone.utc)

    def fake(remove_tzinfo=True):
        return when if remove_tzinfo else aware

    modules = [botocore.auth] + ([_crt_auth] if _crt_auth else [])
    originals = [(m, m.get_current_datetime) for m in modules if hasattr(m, "get_current_datetime")]
    for module, _ in originals:
        module.get_current_datetime = fake
    try:
        yield
    finally:
        for module, original in originals:
            module.get_current_datetime = original


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def object_url(endpoint, bucket, key):
    return f"{endpoint}/{bucket}/{quote(key, safe='/~')}"


def sign_headers(
    method, url, body=b"", headers=None, access_key=ACCESS_KEY, secret_key=SECRET_KEY, when=None, unsigned=False
):
    """Signs a request the way boto3 does for S3 (header form; a hex payload hash over http unless
    `unsigned`, then UNSIGNED-PAYLOAD).

    Returns the headers to send, with lowercase names, `x-amz-content-sha256` and `authorization` included.
    """
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    if unsigned:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    signer = botocore.auth.S3SigV4Auth(Credentials(access_key, secret_key), "s3", REGION)
    if when is None:
        signer.add_auth(request)
    else:
        with signing_clock(when):
            signer.add_auth(request)
    return {name.lower(): value for name, value in request.headers.items()}


def raw_request(method, url, headers, body=b"", timeout=IO_TIMEOUT):
    """Sends exactly `body` with exactly `headers` (no client-side rewriting) and returns
    (status, headers as a lowercase dict, body bytes). A server that answers before the whole body is
    sent and stops reading does not make this fail: its answer is read all the same."""
    parts = urlsplit(url)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        names = {k.lower() for k in headers}
        if "host" not in names:
            conn.putheader("Host", parts.netloc)
        for name, value in headers.items():
            conn.putheader(name, value)
        if "content-length" not in names and (body or method in ("PUT", "POST")):
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders()
        try:
            if body:
                conn.send(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early and closed: read its answer below
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def s3_error_code(body):
    """The <Code> of an S3 XML error body, or None."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    code = root.find("Code")
    return code.text if code is not None else None


def s3_error_message(body):
    """The <Message> of an S3 XML error body, or None."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return None
    message = root.find("Message")
    return message.text if message is not None else None
