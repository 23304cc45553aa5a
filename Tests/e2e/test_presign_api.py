"""The presign API (/api/object-storage/...) over real HTTP: the sidecar in front of moto, in each mode.

Minted URLs are used by plain HTTP clients (as a browser would), compared with botocore's own presign of
the same request, and every status of the contract is checked on the wire.
"""
import datetime
import hashlib
import json
import os
import signal
import subprocess
import time
import uuid
from urllib.parse import parse_qs, urlsplit

import botocore.exceptions
import pytest
import requests

import e2e_support as e2e

APP_KEY = "e2e-app-key-0123456789"
LIMITED_KEY = "e2e-limited-key-0123456789"
LIMITED_ACCESS_KEY = "AKIAE2ELIMITEDKEY001"
LIMITED_SECRET = "limited/Secret+Key=="
ALLOWED_ORIGIN = "http://app.e2e.test:8000"


def creds(extra_api_keys=()):
    return {
        "keys": [
            {"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY},
            {
                "accessKeyId": LIMITED_ACCESS_KEY,
                "secretAccessKey": LIMITED_SECRET,
                "allow": [{"bucket": "*", "prefix": "uploads/", "actions": ["write", "list"]}],
            },
        ],
        "apiKeys": [
            {"apiKey": APP_KEY, "accessKeyId": e2e.ACCESS_KEY},
            {"apiKey": LIMITED_KEY, "accessKeyId": LIMITED_ACCESS_KEY, "presignPerMinute": 60},
            *extra_api_keys,
        ],
    }


class APISidecars:
    """One sidecar per mode, with API keys and CORS, in front of moto."""

    def __init__(self, binary, moto, workdir):
        self.binary, self.moto, self.workdir = binary, moto, workdir
        self.creds_path = workdir / "presign-creds.json"
        self.creds_path.write_text(json.dumps(creds()))
        self.running = {}

    def __call__(self, mode="passthrough"):
        if mode not in self.running:
            def argv(port):
                args = [
                    self.binary, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", self.moto.url,
                    "--mode", mode, "--region", e2e.REGION, "--credentials", str(self.creds_path),
                    "--cors-origin", ALLOWED_ORIGIN, "--cors-origin", "https://*.example.com",
                ]
                if mode == "resign":
                    args += ["--upstream-access-key-id", e2e.UPSTREAM_ACCESS_KEY,
                             "--upstream-secret-access-key", e2e.UPSTREAM_SECRET_KEY]
                return args

            self.running[mode] = e2e.start_service(
                f"s3-sidecar presign ({mode})", argv, str(self.workdir / f"sidecar-presign-{mode}.log"), ready_timeout=30
            )
        return self.running[mode]

    def stop(self):
        for service in self.running.values():
            service.stop()


@pytest.fixture(scope="module")
def api_sidecars(sidecar_bin, moto, workdir):
    pool = APISidecars(sidecar_bin, moto, workdir)
    yield pool
    pool.stop()


@pytest.fixture
def api(api_sidecars):
    return api_sidecars("passthrough")


def call(sidecar, method, path, body=None, key=APP_KEY, headers=None):
    """(status, headers, parsed JSON) of one API call."""
    h = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        h["X-API-Key"] = key
    data = body if isinstance(body, bytes) else (json.dumps(body).encode() if body is not None else b"")
    status, response_headers, payload = e2e.raw_request(method, sidecar.url + path, h, data)
    return status, response_headers, json.loads(payload)


def presign(sidecar, bucket, body, key=APP_KEY):
    return call(sidecar, "POST", f"/api/object-storage/buckets/{bucket}/presign", body, key=key)


def check_error(status, envelope, expected_status, code, field=None):
    assert status == expected_status, envelope
    assert envelope["success"] is False
    assert envelope["code"] == code
    assert envelope["message"]
    uuid.UUID(envelope["requestId"])
    datetime.datetime.strptime(envelope["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ")
    if field:
        assert envelope.get("field") == field, envelope


# MARK: - minting and using URLs


# Not trusted: moto answers an anonymous GET of a private object with 403 (trusted mode's backend is one
# without auth; test_modes.py checks that mode against the recording upstream).
@pytest.mark.parametrize("mode", ["passthrough", "resign"])
def test_minted_upload_and_download_urls_work_with_plain_http(api_sidecars, moto_s3, bucket, mode):
    api = api_sidecars(mode)
    data = os.urandom(300_000)
    status, headers, envelope = presign(
        api, bucket, {"key": "docs/Avi__2791887.pdf", "action": "upload", "contentType": "application/pdf"}
    )
    assert status == 200, envelope
    assert envelope["success"] is True
    uuid.UUID(envelope["requestId"])
    assert envelope["timestamp"].endswith("Z") and len(envelope["timestamp"]) == 24
    assert envelope["data"]["expiresIn"] == 900
    url = envelope["data"]["url"]
    assert url.startswith(f"{api.url}/{bucket}/docs/Avi__2791887.pdf?")
    query = parse_qs(urlsplit(url).query)
    assert query["X-Amz-SignedHeaders"] == ["content-type;host"]
    assert not any("checksum" in name.lower() for name in query)
    assert headers["x-ratelimit-limit"] == "60"

    status, _, body = e2e.raw_request("PUT", url, {"Content-Type": "application/pdf"}, data)
    assert status == 200, body
    # There the moment the PUT returns, byte-identical.
    stored = moto_s3.get_object(Bucket=bucket, Key="docs/Avi__2791887.pdf")
    assert hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(data).digest()
    assert stored["ContentType"] == "application/pdf"

    status, _, envelope = presign(api, bucket, {"key": "docs/Avi__2791887.pdf", "action": "download", "expiresIn": 60})
    assert status == 200
    status, _, body = e2e.raw_request("GET", envelope["data"]["url"], {})
    assert status == 200
    assert body == data


def test_wrong_content_type_is_refused_naming_the_expected_type_and_nothing_is_stored(api, moto_s3, bucket):
    _, _, envelope = presign(api, bucket, {"key": "a.pdf", "action": "upload", "contentType": "application/pdf"})
    status, headers, body = e2e.raw_request("PUT", envelope["data"]["url"], {"Content-Type": "text/plain"}, b"x" * 1000)
    assert status == 403
    assert e2e.s3_error_code(body) == "SignatureDoesNotMatch"
    message = e2e.s3_error_message(body)
    assert '"application/pdf"' in message and '"text/plain"' in message
    with pytest.raises(botocore.exceptions.ClientError):
        moto_s3.head_object(Bucket=bucket, Key="a.pdf")


@pytest.mark.parametrize("content_type", [None, "image/png"])
def test_botocore_presigns_the_same_url(api, content_type):
    """botocore's generate_presigned_url, at the same instant, for the same request, gives the same
    signature: the URL is a standard SigV4 URL any S3 verifier accepts."""
    body = {"key": "dir/a b+c~ü.bin", "action": "upload" if content_type else "download", "expiresIn": 600}
    if content_type:
        body["contentType"] = content_type
    status, _, envelope = presign(api, "cross-check", body)
    assert status == 200, envelope
    ours = urlsplit(envelope["data"]["url"])
    ours_query = parse_qs(ours.query)
    when = datetime.datetime.strptime(ours_query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ")

    client = e2e.s3_client(api.url, request_checksum_calculation="when_required")
    params = {"Bucket": "cross-check", "Key": body["key"]}
    if content_type:
        params["ContentType"] = content_type
    with e2e.signing_clock(when):
        theirs = urlsplit(
            client.generate_presigned_url("put_object" if content_type else "get_object", Params=params, ExpiresIn=600)
        )
    theirs_query = parse_qs(theirs.query)
    assert ours.path == theirs.path
    assert ours.netloc == theirs.netloc
    assert ours_query == theirs_query


# MARK: - statuses


def test_missing_or_unknown_api_key_is_401(api):
    for key in (None, "not-a-key"):
        status, _, envelope = presign(api, "f13", {"key": "k", "action": "upload"}, key=key)
        check_error(status, envelope, 401, "UNAUTHORIZED")
        assert envelope["error"] == "Unauthorized"


def test_outside_the_policy_is_403(api):
    status, _, envelope = presign(api, "f13", {"key": "uploads/ok.txt", "action": "upload"}, key=LIMITED_KEY)
    assert status == 200, envelope
    for body in ({"key": "elsewhere/x.txt", "action": "upload"}, {"key": "uploads/x.txt", "action": "download"}):
        status, _, envelope = presign(api, "f13", body, key=LIMITED_KEY)
        check_error(status, envelope, 403, "FORBIDDEN")


@pytest.mark.parametrize(
    "body, field",
    [
        (b"{oops", "body"),
        (b"[]", "body"),
        ({"key": 12, "action": "upload"}, "key"),
        ({"key": "k", "action": "fly"}, "action"),
        ({"key": "", "action": "upload"}, "key"),
        ({"key": "k" * 1025, "action": "upload"}, "key"),
        ({"key": "k", "action": "upload", "expiresIn": 604801}, "expiresIn"),
        ({"key": "k", "action": "upload", "expiresIn": 0}, "expiresIn"),
        ({"key": "k", "action": "upload", "expiresIn": "900"}, "expiresIn"),
        ({"key": "k", "action": "upload", "contentType": ["a"]}, "contentType"),
    ],
)
def test_bad_requests_are_400_naming_the_field(api, body, field):
    status, _, envelope = presign(api, "f13", body)
    check_error(status, envelope, 400, "VALIDATION_ERROR", field)
    assert envelope["error"] == "Bad Request"


def test_an_oversized_body_is_413(api):
    status, _, envelope = call(api, "POST", "/api/object-storage/buckets/f13/presign", b"{" + b" " * 70_000 + b"}")
    check_error(status, envelope, 413, "PAYLOAD_TOO_LARGE")


def test_unknown_routes_and_methods(api):
    status, _, envelope = call(api, "GET", "/api/object-storage/buckets/f13/nothing")
    check_error(status, envelope, 404, "NOT_FOUND")
    status, headers, envelope = call(api, "GET", "/api/object-storage/buckets/f13/presign")
    check_error(status, envelope, 405, "METHOD_NOT_ALLOWED")
    assert headers["allow"] == "POST"


def test_the_61st_presign_in_a_minute_is_429(api_sidecars):
    sidecar = api_sidecars("passthrough")
    key = "e2e-rate-" + uuid.uuid4().hex
    # A key of its own (a reload adds it), so no other test's requests count.
    sidecar_creds = creds([{"apiKey": key, "accessKeyId": e2e.ACCESS_KEY}])
    api_sidecars.creds_path.write_text(json.dumps(sidecar_creds))
    os.kill(sidecar.proc.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while presign(sidecar, "f13", {"key": "k", "action": "download"}, key=key)[0] == 401:
        assert time.monotonic() < deadline, "the reload did not add the key"
        time.sleep(0.1)
    statuses = [presign(sidecar, "f13", {"key": "k", "action": "download"}, key=key) for _ in range(59)]
    assert all(s == 200 for s, _, _ in statuses)
    status, headers, envelope = presign(sidecar, "f13", {"key": "k", "action": "download"}, key=key)
    check_error(status, envelope, 429, "RATE_LIMITED")
    assert envelope["error"] == "Too Many Requests"
    retry = int(headers["retry-after"])
    assert 1 <= retry <= 60
    assert headers["x-ratelimit-remaining"] == "0"
    assert headers["x-ratelimit-limit"] == "60"
    time.sleep(retry)
    assert presign(sidecar, "f13", {"key": "k", "action": "download"}, key=key)[0] == 200


@pytest.mark.parametrize("mode", ["passthrough", "resign", "trusted"])
def test_listing_pages_through_the_bucket(api_sidecars, moto_s3, bucket, mode):
    sidecar = api_sidecars(mode)
    expected = {}
    for i in range(7):
        key = f"uploads/file {i:02d}.txt"
        moto_s3.put_object(Bucket=bucket, Key=key, Body=b"x" * i)
        expected[key] = i
    moto_s3.put_object(Bucket=bucket, Key="other/skip.txt", Body=b"no")
    seen, cursor, pages = {}, None, 0
    while True:
        path = f"/api/object-storage/buckets/{bucket}/objects?prefix=uploads%2F&limit=3"
        if cursor:
            path += "&cursor=" + __import__("urllib.parse").parse.quote(cursor, safe="")
        status, _, envelope = call(sidecar, "GET", path, key=LIMITED_KEY)
        assert status == 200, envelope
        pages += 1
        for o in envelope["data"]["objects"]:
            seen[o["key"]] = o["size"]
            assert o["etag"] and o["lastModified"]
        cursor = envelope["data"]["nextCursor"]
        if cursor is None:
            break
        assert pages < 10
    assert pages == 3
    assert seen == expected

    status, _, envelope = call(sidecar, "GET", f"/api/object-storage/buckets/{bucket}/objects?prefix=other/", key=LIMITED_KEY)
    check_error(status, envelope, 403, "FORBIDDEN")
    status, _, envelope = call(sidecar, "GET", f"/api/object-storage/buckets/{bucket}/objects?limit=0")
    check_error(status, envelope, 400, "VALIDATION_ERROR", "limit")
    status, _, envelope = call(sidecar, "GET", "/api/object-storage/buckets/no-such-bucket-e2e/objects")
    check_error(status, envelope, 404, "NOT_FOUND")


# MARK: - CORS


def test_cors_preflight_allowed_and_refused(api):
    headers = {"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "PUT",
               "Access-Control-Request-Headers": "content-type"}
    status, response, _ = e2e.raw_request("OPTIONS", f"{api.url}/bucket/key.pdf", headers)
    assert status == 204
    assert response["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "PUT" in response["access-control-allow-methods"]
    assert response["access-control-allow-headers"] == "content-type"
    assert int(response["access-control-max-age"]) > 0

    status, response, _ = e2e.raw_request("OPTIONS", f"{api.url}/bucket/key.pdf",
                                          {**headers, "Origin": "https://deep.sub.example.com"})
    assert status == 204

    for origin in ("http://evil.test", "https://example.com", "http://app.e2e.test:8001"):
        status, response, body = e2e.raw_request("OPTIONS", f"{api.url}/bucket/key.pdf", {**headers, "Origin": origin})
        assert status == 403
        assert "access-control-allow-origin" not in response


def test_cors_headers_on_success_errors_and_api_replies(api, bucket):
    origin = {"Origin": ALLOWED_ORIGIN}
    url = e2e.object_url(api.url, bucket, "nothing-here")
    # An S3 error straight from the sidecar (anonymous request): readable by the page.
    status, response, _ = e2e.raw_request("GET", url, origin)
    assert status == 403
    assert response["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "ETag" in response["access-control-expose-headers"]
    assert "Origin" in response["vary"]
    # An upstream response (404 from moto) through a minted URL.
    _, _, envelope = presign(api, bucket, {"key": "nothing-here", "action": "download"})
    status, response, _ = e2e.raw_request("GET", envelope["data"]["url"], origin)
    assert status == 404
    assert response["access-control-allow-origin"] == ALLOWED_ORIGIN
    # The API's own replies.
    status, response, _ = call(api, "POST", f"/api/object-storage/buckets/{bucket}/presign", {}, headers=origin)
    assert status == 400
    assert response["access-control-allow-origin"] == ALLOWED_ORIGIN
    # Another origin gets no grant, but Vary all the same.
    status, response, _ = e2e.raw_request("GET", url, {"Origin": "http://evil.test"})
    assert "access-control-allow-origin" not in response
    assert "Origin" in response["vary"]


# MARK: - configuration


def test_api_key_naming_an_unknown_access_key_is_refused_at_start(sidecar_bin, moto, tmp_path):
    bad = creds([{"apiKey": "x-key", "accessKeyId": "AKIANOSUCHKEY"}])
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(bad))
    result = subprocess.run(
        [sidecar_bin, "serve", "--listen", "127.0.0.1:0", "--upstream", moto.url, "--credentials", str(path)],
        capture_output=True, timeout=30, text=True,
    )
    assert result.returncode != 0
    assert "apiKeys[2].accessKeyId" in result.stderr and "AKIANOSUCHKEY" in result.stderr

    bad = creds([{"apiKey": "y-key", "accessKeyId": e2e.ACCESS_KEY, "perMinute": 5}])
    path.write_text(json.dumps(bad))
    result = subprocess.run(
        [sidecar_bin, "serve", "--listen", "127.0.0.1:0", "--upstream", moto.url, "--credentials", str(path)],
        capture_output=True, timeout=30, text=True,
    )
    assert result.returncode != 0
    assert 'unknown field "perMinute" in apiKeys[2]' in result.stderr


def test_expect_100_continue_gets_continue_before_the_body(api):
    """curl sends `Expect: 100-continue` with larger bodies and waits for the go-ahead."""
    import socket

    body = json.dumps({"key": "k", "action": "download"}).encode()
    with socket.create_connection(("127.0.0.1", api.port), timeout=e2e.IO_TIMEOUT) as s:
        s.sendall(
            b"POST /api/object-storage/buckets/f13/presign HTTP/1.1\r\nHost: x\r\n"
            + f"X-API-Key: {APP_KEY}\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n".encode()
            + b"Expect: 100-continue\r\n\r\n"
        )
        first = s.recv(4096)
        assert first.startswith(b"HTTP/1.1 100 Continue\r\n"), first
        s.sendall(body)
        reply = b""
        while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
            chunk = s.recv(65536)
            if not chunk:
                break
            reply += chunk
    assert reply.startswith(b"HTTP/1.1 200 OK"), reply


def test_ambiguous_framing_is_refused_and_the_connection_closed(api):
    status, headers, payload = e2e.raw_request(
        "POST", f"{api.url}/api/object-storage/buckets/f13/presign",
        {"X-API-Key": APP_KEY, "Content-Length": "5", "Transfer-Encoding": "chunked"}, b"",
    )
    # Refused before any API logic (by the HTTP parser or the API's own framing check), never read on.
    assert status == 400
    assert headers.get("connection") == "close"


def test_public_url_is_the_base_of_minted_urls(sidecar_bin, moto, workdir, tmp_path):
    creds_path = tmp_path / "creds.json"
    creds_path.write_text(json.dumps(creds()))
    service = e2e.start_service(
        "s3-sidecar (public url)",
        lambda port: [sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url,
                      "--credentials", str(creds_path), "--public-url", "https://Files.Example.com:443/"],
        str(workdir / "sidecar-public-url.log"),
        ready_timeout=30,
    )
    try:
        status, _, envelope = presign(service, "f13", {"key": "a.txt", "action": "download"})
        assert status == 200
        assert envelope["data"]["url"].startswith("https://files.example.com/f13/a.txt?X-Amz-Algorithm=")
    finally:
        service.stop()
    for bad in ("ftp://files.example.com", "https://files.example.com/prefix", "files.example.com"):
        result = subprocess.run(
            [sidecar_bin, "serve", "--listen", "127.0.0.1:0", "--upstream", moto.url,
             "--credentials", str(creds_path), "--public-url", bad],
            capture_output=True, timeout=30, text=True,
        )
        assert result.returncode != 0
        assert "--public-url" in result.stderr, result.stderr


# MARK: - "action": "post" (browser forms)


def post_form(envelope, data, filename="upload.bin", file_type="application/octet-stream", **overrides):
    """Posts a minted form with `requests` as a browser would: the fields, then the file last."""
    fields = {**envelope["data"]["fields"], **overrides}
    return requests.post(
        envelope["data"]["url"], data=fields, files={"file": (filename, data, file_type)},
        allow_redirects=False, timeout=60,
    )


@pytest.mark.parametrize("mode", ["passthrough", "resign"])
def test_minted_post_form_stores_the_file_byte_identical(api_sidecars, moto_s3, bucket, mode):
    api = api_sidecars(mode)
    data = os.urandom(700_000)
    status, headers, envelope = presign(
        api, bucket,
        {"key": "forms/report.pdf", "action": "post", "contentType": "application/pdf", "maxSize": 1_000_000,
         "expiresIn": 300},
    )
    assert status == 200, envelope
    assert envelope["success"] is True
    assert envelope["data"]["method"] == "POST"
    assert envelope["data"]["expiresIn"] == 300
    assert envelope["data"]["url"] == f"{api.url}/{bucket}"
    assert envelope["data"]["fields"]["key"] == "forms/report.pdf"
    assert envelope["data"]["fields"]["Content-Type"] == "application/pdf"
    assert headers["x-ratelimit-limit"] == "60"

    response = post_form(envelope, data, file_type="application/pdf")
    assert response.status_code == 204, response.text
    stored = moto_s3.get_object(Bucket=bucket, Key="forms/report.pdf")
    assert hashlib.sha256(stored["Body"].read()).digest() == hashlib.sha256(data).digest()
    assert stored["ContentType"] == "application/pdf"


def test_post_form_with_a_key_prefix_takes_the_file_name_and_redirects(api, moto_s3, bucket):
    status, _, envelope = presign(
        api, bucket,
        {"key": "inbox/", "keyPrefix": True, "action": "post", "maxSize": 10_000,
         "successActionRedirect": "http://app.e2e.test:8000/done"},
    )
    assert status == 200, envelope
    assert envelope["data"]["fields"]["key"] == "inbox/${filename}"
    data = os.urandom(5000)
    response = post_form(envelope, data, filename="photo 1.jpg")
    assert response.status_code == 303, response.text
    location = urlsplit(response.headers["Location"])
    assert (location.scheme, location.netloc, location.path) == ("http", "app.e2e.test:8000", "/done")
    query = parse_qs(location.query)
    assert query["bucket"] == [bucket] and query["key"] == ["inbox/photo 1.jpg"] and query["etag"]
    assert moto_s3.get_object(Bucket=bucket, Key="inbox/photo 1.jpg")["Body"].read() == data

    # The key may be changed within the prefix only.
    response = post_form(envelope, b"x", key="elsewhere/photo.jpg")
    assert response.status_code == 403
    assert e2e.s3_error_code(response.content) == "AccessDenied"
    assert "elsewhere/photo.jpg" not in e2e.object_keys(moto_s3, bucket)


def test_post_form_refuses_a_file_over_max_size_and_stores_nothing(api, moto_s3, bucket):
    _, _, envelope = presign(api, bucket, {"key": "forms/too-big.bin", "action": "post", "maxSize": 100_000})
    response = post_form(envelope, os.urandom(100_001))
    assert response.status_code == 400, response.text
    assert e2e.s3_error_code(response.content) == "EntityTooLarge"
    assert "forms/too-big.bin" not in e2e.object_keys(moto_s3, bucket)
    # Exactly maxSize is fine.
    assert post_form(envelope, os.urandom(100_000)).status_code == 204


def test_post_form_refuses_another_content_type_and_stores_nothing(api, moto_s3, bucket):
    _, _, envelope = presign(
        api, bucket, {"key": "forms/typed.pdf", "action": "post", "contentType": "application/pdf"}
    )
    response = post_form(envelope, b"<html></html>", **{"Content-Type": "text/html"})
    assert response.status_code == 403, response.text
    assert e2e.s3_error_code(response.content) == "AccessDenied"
    assert "Policy Condition failed" in e2e.s3_error_message(response.content)
    assert "forms/typed.pdf" not in e2e.object_keys(moto_s3, bucket)


def test_post_form_policy_and_validation_statuses(api, bucket):
    # The limited key may write under uploads/ only.
    body = {"key": "uploads/", "keyPrefix": True, "action": "post"}
    status, _, envelope = presign(api, bucket, body, key=LIMITED_KEY)
    assert status == 200, envelope
    for body in ({"key": "other/a", "action": "post"}, {"key": "upload", "keyPrefix": True, "action": "post"}):
        status, _, envelope = presign(api, bucket, body, key=LIMITED_KEY)
        check_error(status, envelope, 403, "FORBIDDEN")
    for body, field in (
        ({"key": "a", "action": "post", "maxSize": -5}, "maxSize"),
        ({"key": "a", "action": "post", "maxSize": "big"}, "maxSize"),
        ({"key": "a", "action": "post", "keyPrefix": 1}, "keyPrefix"),
        ({"key": "a", "action": "upload", "maxSize": 10}, "maxSize"),
        ({"key": "a", "action": "post", "successActionRedirect": "ftp://x/"}, "successActionRedirect"),
    ):
        status, _, envelope = presign(api, bucket, body)
        check_error(status, envelope, 400, "VALIDATION_ERROR", field=field)
