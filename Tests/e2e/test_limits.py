"""Limits: --max-object-size (declared and streamed sizes; nothing is stored), --max-connections (more wait
in the backlog) and --header-timeout (a client that does not finish its head is closed)."""
import http.client
import os
import socket
import time
import uuid

import pytest
from botocore.exceptions import ClientError

import e2e_support as e2e

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def limited_sidecar(sidecar_bin, moto, credentials_file, tmp_path_factory):
    directory = tmp_path_factory.mktemp("limits")
    secret = directory / "upstream-secret"
    secret.write_text(e2e.UPSTREAM_SECRET_KEY + "\n")  # the trailing newline is trimmed
    service = e2e.start_service(
        "s3-sidecar (limits)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "resign",
            "--region", e2e.REGION, "--credentials", credentials_file,
            "--upstream-access-key-id", e2e.UPSTREAM_ACCESS_KEY, "--upstream-secret-access-key-file", str(secret),
            "--max-object-size", str(LIMIT), "--max-connections", "2", "--header-timeout", "2",
        ],
        str(directory / "sidecar.log"),
        ready_timeout=30,
    )
    yield service
    service.stop()


def test_put_over_the_limit_is_entity_too_large_and_nothing_is_stored(limited_sidecar, moto_s3, bucket):
    client = e2e.s3_client(limited_sidecar.url)
    with pytest.raises(ClientError) as raised:
        client.put_object(Bucket=bucket, Key="big", Body=b"x" * (LIMIT + 1))
    assert raised.value.response["Error"]["Code"] == "EntityTooLarge"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    client.put_object(Bucket=bucket, Key="fits", Body=b"x" * LIMIT)
    assert e2e.object_keys(moto_s3, bucket) == ["fits"]


def test_multipart_part_over_the_limit_is_refused(limited_sidecar, bucket):
    client = e2e.s3_client(limited_sidecar.url)
    upload = client.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    with pytest.raises(ClientError) as raised:
        client.upload_part(Bucket=bucket, Key="mp", UploadId=upload, PartNumber=1, Body=b"y" * (LIMIT + 10))
    assert raised.value.response["Error"]["Code"] == "EntityTooLarge"


def test_chunked_body_without_declared_size_is_cut_at_the_limit(limited_sidecar, moto_s3, bucket):
    url = e2e.object_url(limited_sidecar.url, bucket, "streamed")
    parts = e2e.urlsplit(url)
    headers = e2e.sign_headers("PUT", url, unsigned=True)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    conn.putrequest("PUT", parts.path, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", parts.netloc)
    for name, value in headers.items():
        conn.putheader(name, value)
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    chunk = b"z" * 16384
    try:
        for _ in range(LIMIT // len(chunk) + 4):
            conn.send(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        conn.send(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError):
        pass
    response = conn.getresponse()
    body = response.read()
    conn.close()
    assert response.status == 400
    assert e2e.s3_error_code(body) == "EntityTooLarge"
    with pytest.raises(ClientError):
        moto_s3.head_object(Bucket=bucket, Key="streamed")


def test_connections_beyond_the_maximum_wait_until_one_closes(limited_sidecar):
    holders = [socket.create_connection(("127.0.0.1", limited_sidecar.port), timeout=10) for _ in range(2)]
    time.sleep(0.3)
    waiting = socket.create_connection(("127.0.0.1", limited_sidecar.port), timeout=10)  # the kernel's backlog
    request = f"GET /nothing HTTP/1.1\r\nHost: 127.0.0.1:{limited_sidecar.port}\r\n\r\n".encode()
    waiting.sendall(request)
    waiting.settimeout(1.0)
    with pytest.raises(socket.timeout):
        waiting.recv(1)  # not accepted yet: no answer
    holders[0].close()
    waiting.settimeout(10)
    answer = waiting.recv(200)
    assert answer.startswith(b"HTTP/1.1 403"), answer  # anonymous: AccessDenied, but served
    waiting.close()
    holders[1].close()


def test_a_head_not_finished_in_time_is_closed(limited_sidecar):
    time.sleep(0.5)  # let the connection-limit test's sockets close
    slow = socket.create_connection(("127.0.0.1", limited_sidecar.port), timeout=10)
    slow.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
    started = time.monotonic()
    slow.settimeout(10)
    for _ in range(5):  # a byte now and then does not reset the clock
        time.sleep(0.3)
        try:
            slow.sendall(b"X")
        except OSError:
            break
    data = b""
    try:
        while True:
            piece = slow.recv(1024)
            if not piece:
                break
            data += piece
    except ConnectionResetError:
        pass
    elapsed = time.monotonic() - started
    slow.close()
    assert b"200" not in data
    assert 1.5 <= elapsed < 8, elapsed
