"""What reaches the upstream in each mode, seen by a recording upstream: the verified request line,
the mode's auth rewrite, no hop-by-hop headers; and what a client gets when the upstream is gone."""
import datetime
import re
import socket
import subprocess
from urllib.parse import urlsplit

import pytest

import e2e_support as e2e

# Encoded the way boto3 encodes a key (every reserved character percent-encoded).
TARGET = "/bucket/dir/k%C3%A9y%20with%20space%2B%26%3D~.txt"


def send_signed_put(sidecar, target=TARGET, body=b"recorded body", extra_headers=None):
    url = sidecar.url + target
    headers = e2e.sign_headers("PUT", url, body=body, headers={"Content-Type": "text/plain"})
    headers.update(extra_headers or {})
    status, response_headers, response = e2e.raw_request("PUT", url, headers, body)
    return headers, status, response_headers, response


def only_request(recorder):
    requests = recorder.take()
    assert len(requests) == 1, f"expected one upstream request, got {[(m, p) for m, p, _, _ in requests]}"
    method, target, headers, body = requests[0]
    return method, target, {k.lower(): v for k, v in headers}, body


def test_passthrough_forwards_the_verified_request_byte_for_byte(recording_sidecars, recorder):
    sidecar = recording_sidecars("passthrough")
    recorder.take()
    sent, status, response_headers, response = send_signed_put(sidecar)
    assert status == 200, response
    assert response == b"recorded"
    assert response_headers.get("x-amz-request-id")
    method, target, headers, body = only_request(recorder)
    assert (method, target, body) == ("PUT", TARGET, b"recorded body")
    for name in ("authorization", "x-amz-date", "x-amz-content-sha256", "content-type"):
        assert headers.get(name) == sent[name], name
    assert headers["host"] == urlsplit(sidecar.url).netloc


def test_trusted_strips_the_clients_auth_and_names_the_verified_key(recording_sidecars, recorder):
    sidecar = recording_sidecars("trusted")
    recorder.take()
    _, status, _, response = send_signed_put(sidecar)
    assert status == 200, response
    method, target, headers, body = only_request(recorder)
    assert (method, target, body) == ("PUT", TARGET, b"recorded body")
    assert "authorization" not in headers
    assert headers.get("x-sidecar-access-key") == e2e.ACCESS_KEY


def test_trusted_does_not_forward_a_client_supplied_identity_header(recording_sidecars, recorder):
    sidecar = recording_sidecars("trusted")
    recorder.take()
    # Unsigned, so the client may add it; the sidecar must not let it through as the identity.
    _, status, _, response = send_signed_put(sidecar, extra_headers={"X-Sidecar-Access-Key": "AKIAFORGEDFORGED0000"})
    assert status in (200, 400, 403), response
    if status == 200:
        _, _, headers, _ = only_request(recorder)
        assert headers.get("x-sidecar-access-key") == e2e.ACCESS_KEY
    else:
        assert recorder.take() == []


def test_resign_signs_upstream_with_the_backend_key_and_a_valid_signature(recording_sidecars, recorder):
    sidecar = recording_sidecars("resign")
    recorder.take()
    _, status, _, response = send_signed_put(sidecar)
    assert status == 200, response
    method, target, headers, body = only_request(recorder)
    assert (method, target, body) == ("PUT", TARGET, b"recorded body")
    authorization = headers["authorization"]
    assert f"Credential={e2e.UPSTREAM_ACCESS_KEY}/" in authorization, authorization
    assert e2e.ACCESS_KEY not in authorization

    # Sign the recorded request again with the upstream key, independently: the signatures must agree.
    signed_names = re.search(r"SignedHeaders=([^,]+)", authorization).group(1).split(";")
    when = datetime.datetime.strptime(headers["x-amz-date"], "%Y%m%dT%H%M%SZ")
    resigned = e2e.sign_headers(
        method,
        f"http://{headers['host']}{target}",
        body=body,
        headers={n: headers[n] for n in signed_names if n not in ("host", "x-amz-date", "x-amz-content-sha256")},
        access_key=e2e.UPSTREAM_ACCESS_KEY,
        secret_key=e2e.UPSTREAM_SECRET_KEY,
        when=when,
        unsigned=headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD",
    )
    assert resigned["x-amz-content-sha256"] == headers["x-amz-content-sha256"]
    assert resigned["authorization"] == authorization


@pytest.mark.parametrize("mode", ["passthrough", "trusted", "resign"])
def test_hop_by_hop_headers_are_not_forwarded(recording_sidecars, recorder, mode):
    sidecar = recording_sidecars(mode)
    recorder.take()
    hop = {"Keep-Alive": "timeout=5", "TE": "trailers", "Upgrade": "websocket", "Proxy-Authorization": "Basic eDp5"}
    _, status, _, response = send_signed_put(sidecar, extra_headers=hop)
    assert status == 200, response
    _, _, headers, _ = only_request(recorder)
    for name in hop:
        assert name.lower() not in headers, f"{name} was forwarded upstream"


def raw_exchange(sidecar, head_lines, body=b""):
    parts = urlsplit(sidecar.url)
    with socket.create_connection((parts.hostname, parts.port), timeout=e2e.IO_TIMEOUT) as s:
        s.sendall(("\r\n".join(head_lines) + "\r\n\r\n").encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


@pytest.mark.parametrize(
    "framing",
    [["Content-Length: 5", "Transfer-Encoding: chunked"], ["Content-Length: 5", "Content-Length: 6"]],
    ids=["length-and-chunked", "two-lengths"],
)
def test_ambiguous_framing_is_refused_with_400_and_nothing_goes_upstream(recording_sidecars, recorder, framing):
    sidecar = recording_sidecars("passthrough")
    recorder.take()
    url = sidecar.url + "/bucket/framing.txt"
    signed = e2e.sign_headers("PUT", url, body=b"hello")
    lines = [f"PUT /bucket/framing.txt HTTP/1.1", f"Host: {urlsplit(url).netloc}", *framing]
    lines += [f"{k}: {v}" for k, v in signed.items()]
    answer = raw_exchange(sidecar, lines, b"hello")
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
    assert recorder.take() == []


def test_dead_upstream_gives_an_s3_error_quickly_not_a_hang(sidecar_bin, credentials_file, tmp_path):
    dead = f"http://127.0.0.1:{e2e.free_port()}"  # nothing listens there
    service = e2e.start_service(
        "s3-sidecar (dead upstream)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", dead, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", credentials_file,
        ],
        str(tmp_path / "sidecar-dead.log"),
        ready_timeout=30,
    )
    try:
        url = service.url + "/bucket/key.txt"
        status, headers, body = e2e.raw_request("GET", url, e2e.sign_headers("GET", url), timeout=15)
        assert status in (502, 503), body
        assert e2e.s3_error_code(body) in ("BadGateway", "ServiceUnavailable", "InternalError"), body
        assert headers.get("x-amz-request-id")
    finally:
        service.stop()


# MARK: - command line


def test_serve_help_lists_every_flag_of_the_contract(sidecar_bin):
    result = subprocess.run([sidecar_bin, "serve", "--help"], capture_output=True, timeout=30, stdin=subprocess.DEVNULL)
    text = (result.stdout + result.stderr).decode()
    for flag in ("--listen", "--upstream", "--mode", "--region", "--credentials",
                 "--upstream-access-key-id", "--upstream-secret-access-key", "passthrough", "resign", "trusted"):
        assert flag in text, f"{flag} missing from `serve --help`"


def test_credentials_file_with_an_unknown_field_is_refused_naming_it(sidecar_bin, tmp_path):
    creds = tmp_path / "creds.json"
    creds.write_text('{"keys": [{"accessKeyId": "AKIAX", "secretAccessKey": "s", "secretKey": "typo"}]}')
    result = subprocess.run(
        [sidecar_bin, "serve", "--listen", f"127.0.0.1:{e2e.free_port()}", "--upstream", "http://127.0.0.1:9",
         "--mode", "passthrough", "--region", e2e.REGION, "--credentials", str(creds)],
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "secretKey" in (result.stdout + result.stderr).decode()


def test_resign_mode_without_upstream_keys_is_refused(sidecar_bin, credentials_file):
    result = subprocess.run(
        [sidecar_bin, "serve", "--listen", f"127.0.0.1:{e2e.free_port()}", "--upstream", "http://127.0.0.1:9",
         "--mode", "resign", "--region", e2e.REGION, "--credentials", credentials_file],
        capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert "--upstream-access-key-id" in (result.stdout + result.stderr).decode()


def test_pipelined_requests_are_answered_in_order_on_one_connection(recording_sidecars, recorder):
    sidecar = recording_sidecars("passthrough")
    recorder.take()
    netloc = urlsplit(sidecar.url).netloc
    wire = b""
    for i in range(3):
        target = f"/bucket/pipelined-{i}.txt"
        signed = e2e.sign_headers("GET", sidecar.url + target)
        head = f"GET {target} HTTP/1.1\r\nHost: {netloc}\r\n" + "".join(f"{k}: {v}\r\n" for k, v in signed.items())
        wire += head.encode() + b"\r\n"
    with socket.create_connection(("127.0.0.1", urlsplit(sidecar.url).port), timeout=e2e.IO_TIMEOUT) as s:
        s.sendall(wire)  # all three heads in one write
        data = b""
        while data.count(b"recorded") < 3:
            chunk = s.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
    assert data.count(b"HTTP/1.1 200") == 3, data
    assert [p for _, p, _, _ in recorder.take()] == [f"/bucket/pipelined-{i}.txt" for i in range(3)]
