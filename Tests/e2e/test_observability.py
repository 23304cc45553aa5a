"""Metrics and the JSON access log after a known sequence of requests: exact counter values on /metrics,
one JSON line per request with the right fields, and never a signature or secret in the log."""
import json
import os
import re
import signal
import socket
import time
import urllib.error
import urllib.request

import pytest

import e2e_support as e2e

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def scrape(admin_port):
    """{(name, frozenset(labels)): value} from the Prometheus text on /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/metrics", timeout=e2e.IO_TIMEOUT) as response:
        text = response.read().decode()
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        name, labels, value = match.groups()
        samples[(name, frozenset(LABEL.findall(labels or "")))] = float(value)
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture(scope="module")
def observed(sidecar_bin, moto, tmp_path_factory):
    directory = tmp_path_factory.mktemp("observability")
    creds = directory / "creds.json"
    creds.write_text(json.dumps({"keys": [{"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY}]}))
    access_log = directory / "access.log"
    admin_port = e2e.free_port()
    service = e2e.start_service(
        "s3-sidecar (observability)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", str(creds), "--admin-listen", f"127.0.0.1:{admin_port}",
            "--log-format", "json", "--access-log", str(access_log),
        ],
        str(directory / "sidecar.log"),
        ready_timeout=30,
    )
    e2e.wait_for_port(admin_port, service.proc, 10, service.log_path)
    service.admin_port = admin_port
    service.access_log = access_log
    service.creds = creds
    yield service
    service.stop()


def wait_until(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def test_metrics_and_access_log_after_a_known_sequence(observed, moto_s3, bucket):
    url = observed.url
    moto_s3.put_object(Bucket=bucket, Key="read/me.txt", Body=b"r" * 700)
    body_in = os.urandom(1000)
    received = []  # (status, headers, body, the signature sent)

    # 3 successes: a header-signed PUT and GET, a presigned GET.
    put_url = e2e.object_url(url, bucket, "up/file.bin")
    headers = e2e.sign_headers("PUT", put_url, body=body_in)
    received.append(e2e.raw_request("PUT", put_url, headers, body_in) + (headers["authorization"],))
    get_url = e2e.object_url(url, bucket, "read/me.txt")
    headers = e2e.sign_headers("GET", get_url)
    received.append(e2e.raw_request("GET", get_url, headers) + (headers["authorization"],))
    presigned = e2e.s3_client(url).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "up/file.bin"}, ExpiresIn=300
    )
    received.append(e2e.raw_request("GET", presigned, {}) + (presigned.split("X-Amz-Signature=")[1],))
    # 2 SignatureDoesNotMatch: a wrong secret, header-signed.
    for key in ("forged/one", "forged/two"):
        forged_url = e2e.object_url(url, bucket, key)
        headers = e2e.sign_headers("PUT", forged_url, body=b"evil", secret_key=e2e.WRONG_SECRET_KEY)
        received.append(e2e.raw_request("PUT", forged_url, headers, b"evil") + (headers["authorization"],))

    assert [r[0] for r in received] == [200, 200, 200, 403, 403]
    assert received[2][2] == body_in
    assert [e2e.s3_error_code(r[2]) for r in received[3:]] == ["SignatureDoesNotMatch"] * 2

    # A reload: SIGHUP with the file unchanged (its watcher does not fire, so exactly one reload).
    os.kill(observed.proc.pid, signal.SIGHUP)
    assert wait_until(lambda: value(scrape(observed.admin_port), "s3_sidecar_reloads_total", result="success") == 1)

    # An open connection is counted while it is open.
    with socket.create_connection(("127.0.0.1", observed.port), timeout=5):
        assert wait_until(
            lambda: value(scrape(observed.admin_port), "s3_sidecar_open_client_connections") == 1
        )
    assert wait_until(lambda: value(scrape(observed.admin_port), "s3_sidecar_open_client_connections") == 0)

    m = scrape(observed.admin_port)
    assert value(m, "s3_sidecar_requests_total", signature="v4", form="header") == 2
    assert value(m, "s3_sidecar_requests_total", signature="v4", form="presigned") == 1
    assert value(m, "s3_sidecar_request_outcomes_total", outcome="forwarded", code="none") == 3
    assert value(m, "s3_sidecar_request_outcomes_total", outcome="refused", code="SignatureDoesNotMatch") == 2
    assert value(m, "s3_sidecar_auth_failures_total", code="SignatureDoesNotMatch") == 2
    assert value(m, "s3_sidecar_refused_requests_total", code="SignatureDoesNotMatch") == 2
    assert value(m, "s3_sidecar_request_duration_seconds_count", outcome="forwarded") == 3
    assert value(m, "s3_sidecar_request_duration_seconds_count", outcome="refused") == 2
    assert value(m, "s3_sidecar_request_duration_seconds_bucket", outcome="forwarded", le="+Inf") == 3
    # Bytes in: the PUT's body only (refused bodies are not read into the count). Bytes out: every body the
    # client got, error bodies included.
    assert value(m, "s3_sidecar_request_body_bytes_total") == len(body_in)
    assert value(m, "s3_sidecar_response_body_bytes_total") == sum(len(r[2]) for r in received)
    assert value(m, "s3_sidecar_reloads_total", result="success") == 1
    assert value(m, "s3_sidecar_reloads_total", result="failure") == 0

    # A broken file is refused and counted.
    observed.creds.write_text("{not json")
    os.kill(observed.proc.pid, signal.SIGHUP)
    assert wait_until(lambda: value(scrape(observed.admin_port), "s3_sidecar_reloads_total", result="failure") >= 1)
    assert value(scrape(observed.admin_port), "s3_sidecar_reloads_total", result="success") == 1

    # The access log: one JSON object per request. A line is written as its exchange closes, just after the
    # reply, so two requests on different event loops may log in either order: find each by what it was.
    assert wait_until(lambda: len(observed.access_log.read_text().splitlines()) >= 5)
    text = observed.access_log.read_text()
    lines = [json.loads(line) for line in text.splitlines()]
    assert len(lines) == 5

    def only(predicate):
        found = [line for line in lines if predicate(line)]
        assert len(found) == 1, found
        return found[0]

    put = only(lambda line: line["method"] == "PUT" and "error_code" not in line)
    get = only(lambda line: line.get("key") == "read/me.txt")
    pre = only(lambda line: line.get("auth_form") == "presigned")
    by_id = {line["request_id"]: line for line in lines}
    forged1, forged2 = (by_id[response[1]["x-amz-request-id"]] for response in received[3:])
    assert put["message"] == "access"
    assert put["access_key_id"] == e2e.ACCESS_KEY
    assert put["auth_form"] == "header" and put["signature_version"] == 4
    assert (put["method"], put["bucket"], put["key"], put["action"]) == ("PUT", bucket, "up/file.bin", "write")
    assert (put["status"], put["upstream_status"], put["outcome"]) == (200, 200, "forwarded")
    assert put["bytes_in"] == len(body_in) and put["bytes_out"] == len(received[0][2])
    assert isinstance(put["duration_ms"], (int, float)) and put["duration_ms"] >= 0
    assert put["remote_addr"].startswith("127.0.0.1:")
    assert "error_code" not in put
    assert (get["action"], get["bytes_out"], get["key"]) == ("read", 700, "read/me.txt")
    assert pre["auth_form"] == "presigned" and pre["path"] == f"/{bucket}/up/file.bin"
    assert pre["bytes_out"] == len(body_in)
    for line, response in ((forged1, received[3]), (forged2, received[4])):
        assert line["error_code"] == "SignatureDoesNotMatch"
        assert (line["status"], line["outcome"]) == (403, "refused")
        assert "upstream_status" not in line
        assert line["request_id"] == response[1]["x-amz-request-id"]
        assert line["bytes_out"] == len(response[2])
    assert len({line["request_id"] for line in lines}) == 5
    # Never a secret, a signature, an Authorization value or a presigned query.
    for *_, signature in received:
        assert signature not in text
    for secret in (e2e.SECRET_KEY, e2e.WRONG_SECRET_KEY, "X-Amz-Signature", "X-Amz-Credential", "AWS4-HMAC-SHA256"):
        assert secret not in text

    # The main log is JSON too.
    for line in open(observed.log_path, "rb").read().decode().splitlines():
        if line.startswith("{"):
            assert json.loads(line)["logger"]


def test_an_unreachable_upstream_is_counted(sidecar_bin, tmp_path_factory):
    directory = tmp_path_factory.mktemp("observability-down")
    creds = directory / "creds.json"
    creds.write_text(json.dumps({"keys": [{"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY}]}))
    admin_port = e2e.free_port()
    closed_port = e2e.free_port()  # nothing listens there
    service = e2e.start_service(
        "s3-sidecar (upstream down)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", f"http://127.0.0.1:{closed_port}",
            "--region", e2e.REGION, "--credentials", str(creds), "--admin-listen", f"127.0.0.1:{admin_port}",
        ],
        str(directory / "sidecar.log"),
        ready_timeout=30,
    )
    try:
        e2e.wait_for_port(admin_port, service.proc, 10, service.log_path)
        url = e2e.object_url(service.url, "bucket", "key")
        status, _, body = e2e.raw_request("GET", url, e2e.sign_headers("GET", url))
        assert status in (502, 503)
        error = e2e.s3_error_code(body)
        # The outcome is counted as the exchange closes, just after its reply went out: poll briefly.
        deadline = time.time() + 10
        while True:
            m = scrape(admin_port)
            if value(m, "s3_sidecar_request_outcomes_total", outcome="refused", code=error) or time.time() > deadline:
                break
            time.sleep(0.05)
        # Not ready while the upstream does not accept connections.
        with pytest.raises(urllib.error.HTTPError) as raised:
            urllib.request.urlopen(f"http://127.0.0.1:{admin_port}/readyz", timeout=e2e.IO_TIMEOUT)
        assert raised.value.code == 503
        assert b"unreachable" in raised.value.read()
        assert value(m, "s3_sidecar_upstream_errors_total", stage="connect") == 1
        assert value(m, "s3_sidecar_request_outcomes_total", outcome="refused", code=error) == 1
        assert value(m, "s3_sidecar_requests_total", signature="v4", form="header") == 1
        assert value(m, "s3_sidecar_auth_failures_total", code=error) == 0
    finally:
        service.stop()
