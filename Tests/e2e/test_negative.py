"""Requests the sidecar must refuse the way S3 does, and of which the backend must never see an object.

Requests are signed by botocore itself (SigV4Auth / the presigner), with its clock moved where a test
needs a past time, and sent with http.client so nothing rewrites them on the way.
"""
import datetime
import hashlib
import socket
import time
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import pytest
import requests

import e2e_support as e2e


def assert_s3_error(status, headers, body, expected_status, expected_code, message_contains=None):
    assert status == expected_status, f"expected {expected_status} {expected_code}, got {status}: {body!r}"
    assert e2e.s3_error_code(body) == expected_code, body
    assert headers.get("x-amz-request-id"), f"no x-amz-request-id in {headers}"
    assert headers.get("content-type", "").startswith("application/xml"), headers
    if message_contains:
        assert message_contains in (e2e.s3_error_message(body) or ""), body


def assert_backend_has_nothing(moto_s3, bucket):
    assert e2e.object_keys(moto_s3, bucket) == []


def signed_put(sidecar, bucket, key, body, **sign):
    url = e2e.object_url(sidecar.url, bucket, key)
    headers = e2e.sign_headers("PUT", url, body=body, headers={"Content-Type": "text/plain"}, **sign)
    return e2e.raw_request("PUT", url, headers, body)


# MARK: - header form


def test_wrong_secret_gives_403_signature_does_not_match_and_stores_nothing(sidecar, moto_s3, bucket):
    status, headers, body = signed_put(sidecar, bucket, "k é+.txt", b"payload", secret_key=e2e.WRONG_SECRET_KEY)
    assert_s3_error(status, headers, body, 403, "SignatureDoesNotMatch")
    assert e2e.SECRET_KEY.encode() not in body and e2e.WRONG_SECRET_KEY.encode() not in body
    assert_backend_has_nothing(moto_s3, bucket)


def test_unknown_access_key_gives_403_invalid_access_key_id_and_stores_nothing(sidecar, moto_s3, bucket):
    status, headers, body = signed_put(sidecar, bucket, "k.txt", b"payload", access_key=e2e.UNKNOWN_ACCESS_KEY)
    assert_s3_error(status, headers, body, 403, "InvalidAccessKeyId")
    assert_backend_has_nothing(moto_s3, bucket)


def test_anonymous_put_gives_403_access_denied_and_stores_nothing(sidecar, moto_s3, bucket):
    url = e2e.object_url(sidecar.url, bucket, "anon.txt")
    status, headers, body = e2e.raw_request("PUT", url, {"Content-Type": "text/plain"}, b"anonymous")
    assert_s3_error(status, headers, body, 403, "AccessDenied")
    assert_backend_has_nothing(moto_s3, bucket)


@pytest.mark.parametrize("skew_minutes", [-20, 20])
def test_clock_skewed_by_20_minutes_gives_403_request_time_too_skewed_and_stores_nothing(
    sidecar, moto_s3, bucket, skew_minutes
):
    when = e2e.utcnow() + datetime.timedelta(minutes=skew_minutes)
    status, headers, body = signed_put(sidecar, bucket, "skewed.txt", b"payload", when=when)
    assert_s3_error(status, headers, body, 403, "RequestTimeTooSkewed")
    assert_backend_has_nothing(moto_s3, bucket)


def test_clock_skewed_by_4_minutes_is_accepted(sidecar, moto_s3, bucket):
    when = e2e.utcnow() - datetime.timedelta(minutes=4)
    status, _, body = signed_put(sidecar, bucket, "slightly-skewed.txt", b"payload", when=when)
    assert status == 200, body
    assert e2e.object_keys(moto_s3, bucket) == ["slightly-skewed.txt"]


@pytest.mark.parametrize("size", [20, 8 * 1024 * 1024 + 3], ids=["small", "8MiB"])
def test_body_not_matching_its_signed_sha256_gives_400_and_the_backend_stores_nothing(sidecar, moto_s3, bucket, size):
    signed_body = b"A" * size
    sent_body = b"A" * (size - 1) + b"B"  # same length, last byte differs: caught only at the very end
    url = e2e.object_url(sidecar.url, bucket, "tampered body.bin")
    headers = e2e.sign_headers("PUT", url, body=signed_body)
    assert headers["x-amz-content-sha256"] == hashlib.sha256(signed_body).hexdigest()
    headers["Content-Length"] = str(len(sent_body))

    status, response_headers, body = e2e.raw_request("PUT", url, headers, sent_body)
    assert_s3_error(status, response_headers, body, 400, "XAmzContentSHA256Mismatch")
    # The upstream request was aborted before its last byte, so the backend created nothing;
    # look twice in case moto is still finishing with the aborted request.
    assert_backend_has_nothing(moto_s3, bucket)
    time.sleep(0.3)
    assert_backend_has_nothing(moto_s3, bucket)


def test_body_matching_its_signed_sha256_is_stored(sidecar, moto_s3, bucket):
    body = b"exactly what was signed" * 1000
    status, _, response = signed_put(sidecar, bucket, "good body.bin", body)
    assert status == 200, response
    assert moto_s3.get_object(Bucket=bucket, Key="good body.bin")["Body"].read() == body


def test_body_cut_short_by_the_client_stores_nothing(sidecar, moto_s3, bucket):
    url = e2e.object_url(sidecar.url, bucket, "truncated.bin")
    declared = 4 * 1024 * 1024
    headers = e2e.sign_headers("PUT", url, unsigned=True)
    assert headers["x-amz-content-sha256"] == "UNSIGNED-PAYLOAD"
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=e2e.IO_TIMEOUT) as s:
        head = f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {declared}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
        s.sendall(head.encode() + b"x" * (declared // 2))
        s.shutdown(socket.SHUT_WR)  # the client gives up half way
        try:
            while s.recv(65536):
                pass
        except OSError:
            pass
    time.sleep(0.5)
    assert_backend_has_nothing(moto_s3, bucket)


def test_expect_100_continue_with_a_bad_signature_gets_the_error_instead_of_100(sidecar, moto_s3, bucket):
    url = e2e.object_url(sidecar.url, bucket, "expect.bin")
    body = b"z" * 1_000_000
    headers = e2e.sign_headers("PUT", url, body=body, secret_key=e2e.WRONG_SECRET_KEY)
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=e2e.IO_TIMEOUT) as s:
        head = f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
        s.sendall(head.encode())
        first = s.recv(65536)  # without sending a byte of the body
    assert first.startswith(b"HTTP/1.1 403"), first[:200]
    assert b"SignatureDoesNotMatch" in first or b"x-amz-request-id" in first.lower()
    assert_backend_has_nothing(moto_s3, bucket)


def test_expect_100_continue_with_a_good_signature_gets_100_then_stores(sidecar, moto_s3, bucket):
    url = e2e.object_url(sidecar.url, bucket, "expect-ok.bin")
    body = b"y" * 100_000
    headers = e2e.sign_headers("PUT", url, body=body)
    parts = urlsplit(url)
    with socket.create_connection((parts.hostname, parts.port), timeout=e2e.IO_TIMEOUT) as s:
        head = f"PUT {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Length: {len(body)}\r\nExpect: 100-continue\r\nConnection: close\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items() if k.lower() != "host") + "\r\n"
        s.sendall(head.encode())
        first = s.recv(65536)
        assert first.startswith(b"HTTP/1.1 100"), first[:200]
        s.sendall(body)
        rest = first.split(b"\r\n\r\n", 1)[1]
        while b"HTTP/1.1 200" not in rest:
            chunk = s.recv(65536)
            assert chunk, f"connection closed before the final response: {rest[:300]!r}"
            rest += chunk
    assert moto_s3.get_object(Bucket=bucket, Key="expect-ok.bin")["Body"].read() == body


# MARK: - presigned form


def presign_put(client, bucket, key, expires=300, when=None):
    params = {"Bucket": bucket, "Key": key}
    if when is None:
        return client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires)
    with e2e.signing_clock(when):
        return client.generate_presigned_url("put_object", Params=params, ExpiresIn=expires)


def put_url(url, body=b"presigned body"):
    response = requests.put(url, data=body, timeout=e2e.IO_TIMEOUT)
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content


def test_expired_presigned_get_gives_403_access_denied_request_has_expired(client, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="old.txt", Body=b"old")
    with e2e.signing_clock(e2e.utcnow() - datetime.timedelta(hours=2)):
        url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "old.txt"}, ExpiresIn=3600)
    response = requests.get(url, timeout=e2e.IO_TIMEOUT)
    assert_s3_error(
        response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content,
        403, "AccessDenied", "Request has expired",
    )


def test_expired_presigned_put_gives_403_and_stores_nothing(client, moto_s3, bucket):
    url = presign_put(client, bucket, "late.txt", expires=60, when=e2e.utcnow() - datetime.timedelta(minutes=5))
    assert_s3_error(*put_url(url), 403, "AccessDenied", "Request has expired")
    assert_backend_has_nothing(moto_s3, bucket)


def test_presigned_url_valid_for_over_7_days_gives_400_authorization_query_parameters_error(client, moto_s3, bucket):
    url = presign_put(client, bucket, "forever.txt", expires=604801)
    assert "X-Amz-Expires=604801" in url
    assert_s3_error(*put_url(url), 400, "AuthorizationQueryParametersError")
    assert_backend_has_nothing(moto_s3, bucket)


def test_presigned_url_valid_for_exactly_7_days_is_accepted(client, moto_s3, bucket):
    url = presign_put(client, bucket, "week.txt", expires=604800)
    status, _, body = put_url(url)
    assert status == 200, body
    assert e2e.object_keys(moto_s3, bucket) == ["week.txt"]


def tamper_path(url):
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=parts.path.replace("signed", "other")))


def tamper_query(name, value):
    def tamper(url):
        parts = urlsplit(url)
        query = parse_qsl(parts.query, keep_blank_values=True)
        query = [(k, value if k == name else v) for k, v in query]
        if name not in dict(query):
            query.append((name, value))
        return urlunsplit(parts._replace(query=urlencode(query)))

    return tamper


@pytest.mark.parametrize(
    "tamper",
    [
        tamper_path,
        tamper_query("X-Amz-Expires", "3600"),
        tamper_query("x-amz-acl", "public-read"),
        tamper_query("partNumber", "1"),
        # An hour ahead of collection time: never the second a test run signs in, however long the run.
        tamper_query("X-Amz-Date", (e2e.utcnow() + datetime.timedelta(hours=1)).strftime("%Y%m%dT%H%M%SZ")),
    ],
    ids=["path", "expires", "added-acl", "added-param", "date"],
)
def test_tampered_presigned_put_gives_403_and_stores_nothing(client, moto_s3, bucket, tamper):
    url = presign_put(client, bucket, "signed-key.txt", expires=300)
    tampered = tamper(url)
    assert tampered != url
    status, headers, body = put_url(tampered)
    assert status == 403, body
    assert e2e.s3_error_code(body) in ("SignatureDoesNotMatch", "AccessDenied"), body
    assert headers.get("x-amz-request-id")
    assert_backend_has_nothing(moto_s3, bucket)


def test_presigned_get_with_a_wrong_secret_gives_403_signature_does_not_match(sidecar, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="private.txt", Body=b"the private object body")
    wrong = e2e.s3_client(sidecar.url, secret_key=e2e.WRONG_SECRET_KEY)
    url = wrong.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "private.txt"}, ExpiresIn=300)
    response = requests.get(url, timeout=e2e.IO_TIMEOUT)
    assert response.status_code == 403
    assert e2e.s3_error_code(response.content) == "SignatureDoesNotMatch"
    assert b"the private object body" not in response.content
