"""curl --aws-sigv4 through the sidecar.

curl 7.88 signs only host and x-amz-date and sends no x-amz-content-sha256 of its own. S3 requires that
header on the header form, so a caller passes `-H "x-amz-content-sha256: UNSIGNED-PAYLOAD"`: curl then
signs it and uses its value as the payload line of the canonical request.
"""
import shutil
import subprocess

import pytest

import e2e_support as e2e

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")

UNSIGNED = ["-H", "x-amz-content-sha256: UNSIGNED-PAYLOAD"]


def curl(*args, secret=e2e.SECRET_KEY, access_key=e2e.ACCESS_KEY):
    """Runs curl with SigV4; returns (status, body bytes)."""
    argv = [
        "curl", "--silent", "--show-error", "--max-time", "30",
        "--aws-sigv4", f"aws:amz:{e2e.REGION}:s3",
        "--user", f"{access_key}:{secret}",
        "--output", "-", "--write-out", "\n%{http_code}",
        *args,
    ]
    result = subprocess.run(argv, capture_output=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr.decode()
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


def test_curl_aws_sigv4_put_then_get_with_unsigned_payload(sidecar, moto_s3, bucket, tmp_path):
    source = tmp_path / "curl-upload.bin"
    source.write_bytes(b"uploaded by curl\n" * 1000)
    url = e2e.object_url(sidecar.url, bucket, "curl/up load+é.bin")

    status, body = curl(*UNSIGNED, "--upload-file", str(source), url)
    assert status == 200, body
    assert moto_s3.get_object(Bucket=bucket, Key="curl/up load+é.bin")["Body"].read() == source.read_bytes()

    status, body = curl(*UNSIGNED, url)
    assert status == 200, body
    assert body == source.read_bytes()


def test_curl_aws_sigv4_list_bucket_with_query(sidecar, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="a/1", Body=b"1")
    moto_s3.put_object(Bucket=bucket, Key="b/2", Body=b"2")
    status, body = curl(*UNSIGNED, f"{sidecar.url}/{bucket}?list-type=2&prefix=a%2F")
    assert status == 200, body
    assert b"<Key>a/1</Key>" in body and b"b/2" not in body


def test_curl_aws_sigv4_without_content_sha256_header_is_refused_like_s3(sidecar, moto_s3, bucket):
    status, body = curl(e2e.object_url(sidecar.url, bucket, "x"))
    assert status == 400, body
    assert e2e.s3_error_code(body) == "InvalidRequest"
    assert b"x-amz-content-sha256" in body


def test_curl_aws_sigv4_put_with_wrong_secret_is_refused_before_the_body_and_creates_nothing(
    sidecar, moto_s3, bucket, tmp_path
):
    source = tmp_path / "never.bin"
    source.write_bytes(b"x" * 100_000)
    url = e2e.object_url(sidecar.url, bucket, "never.bin")
    # curl sends Expect: 100-continue for this upload: the sidecar must answer 403 instead of 100.
    status, body = curl(*UNSIGNED, "--upload-file", str(source), url, secret=e2e.WRONG_SECRET_KEY)
    assert status == 403, body
    assert e2e.s3_error_code(body) == "SignatureDoesNotMatch"
    assert e2e.object_keys(moto_s3, bucket) == []
