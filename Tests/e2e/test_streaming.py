"""aws-chunked uploads end to end: the encoding boto3 uses over https (STREAMING-UNSIGNED-PAYLOAD-TRAILER
with a CRC32 trailer), decoded and verified by the sidecar, and bodies whose trailer or framing lies."""
import base64
import contextlib
import hashlib
import os
import zlib

import pytest

import botocore.auth
import botocore.httpchecksum
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

import e2e_support as e2e


@contextlib.contextmanager
def aws_chunked_over_http():
    """botocore sends aws-chunked with a trailing checksum only to https endpoints; make it believe the
    loopback endpoint is one, so the real client encoding is exercised over plain http."""
    original = botocore.httpchecksum.urlparse

    def pretend_https(url, *args, **kwargs):
        return original(url, *args, **kwargs)._replace(scheme="https")

    botocore.httpchecksum.urlparse = pretend_https
    try:
        yield
    finally:
        botocore.httpchecksum.urlparse = original


def test_boto3_aws_chunked_upload_is_decoded_in_resign_mode(sidecars, bucket, moto_s3):
    client = e2e.s3_client(sidecars("resign").url)
    data = os.urandom(300_000)
    with aws_chunked_over_http():
        client.put_object(Bucket=bucket, Key="chunked.bin", Body=data)
    stored = moto_s3.get_object(Bucket=bucket, Key="chunked.bin")["Body"].read()
    assert stored == data


def test_boto3_sends_aws_chunked_with_a_crc32_trailer_and_passthrough_forwards_it_unchanged(
    recording_sidecars, recorder
):
    sidecar = recording_sidecars("passthrough")
    recorder.take()
    client = e2e.s3_client(sidecar.url)
    data = b"streamed through unchanged " * 1000
    with aws_chunked_over_http():
        try:
            client.put_object(Bucket="bucket", Key="k", Body=data)
        except Exception:
            pass  # the recording upstream's reply is not a real S3 answer; what it received is what counts
    requests = recorder.take()
    # boto3 may retry after the recording upstream's non-S3 reply; every attempt must arrive unchanged.
    assert requests
    _, _, headers, body = requests[0]
    headers = {k.lower(): v for k, v in headers}
    assert headers["x-amz-content-sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert headers["x-amz-trailer"] == "x-amz-checksum-crc32"
    assert "aws-chunked" in headers["content-encoding"]
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert body.endswith(f"0\r\nx-amz-checksum-crc32:{crc}\r\n\r\n".encode())


def unsigned_trailer_request(sidecar, bucket, key, data, trailer_crc=None, cut_final_chunk=False, algorithm="crc32"):
    """An aws-chunked PUT with an unsigned checksum trailer (CRC32 or SHA256), built by hand so the trailer
    can lie (`trailer_crc` replaces the true value, whatever the algorithm)."""
    if algorithm == "crc32":
        digest = zlib.crc32(data).to_bytes(4, "big")
    else:
        digest = hashlib.new(algorithm, data).digest()
    value = trailer_crc or base64.b64encode(digest).decode()
    body = f"{len(data):x}\r\n".encode() + data + b"\r\n"
    if not cut_final_chunk:
        body += f"0\r\nx-amz-checksum-{algorithm}:{value}\r\n\r\n".encode()
    url = f"{sidecar.url}/{bucket}/{key}"
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "x-amz-trailer": f"x-amz-checksum-{algorithm}",
        "x-amz-decoded-content-length": str(len(data)),
    }
    # botocore's S3 signer always recomputes x-amz-content-sha256; its generic SigV4 signer keeps the
    # STREAMING-* value given (and for a plain /bucket/key path signs the same canonical request).
    request = AWSRequest(method="PUT", url=url, headers=headers)
    botocore.auth.SigV4Auth(Credentials(e2e.ACCESS_KEY, e2e.SECRET_KEY), "s3", e2e.REGION).add_auth(request)
    signed = {name.lower(): value for name, value in request.headers.items()}
    signed["content-length"] = str(len(body))
    return e2e.raw_request("PUT", url, signed, body)


def test_a_trailer_checksum_that_does_not_match_is_bad_digest_and_nothing_is_stored(sidecars, bucket, moto_s3):
    status, headers, body = unsigned_trailer_request(
        sidecars("resign"), bucket, "lying-trailer", b"x" * 5000, trailer_crc="AAAAAA=="
    )
    assert status == 400, body
    assert e2e.s3_error_code(body) == "BadDigest"
    assert headers.get("x-amz-request-id")
    assert e2e.object_keys(moto_s3, bucket) == []


def test_an_aws_chunked_body_without_its_final_chunk_is_incomplete_and_nothing_is_stored(sidecars, bucket, moto_s3):
    status, _, body = unsigned_trailer_request(sidecars("resign"), bucket, "cut", b"y" * 5000, cut_final_chunk=True)
    assert status == 400, body
    assert e2e.s3_error_code(body) == "IncompleteBody"
    assert e2e.object_keys(moto_s3, bucket) == []


def test_a_matching_hand_built_trailer_upload_is_stored_decoded(sidecars, bucket, moto_s3):
    data = hashlib.sha256(b"seed").digest() * 100
    status, _, body = unsigned_trailer_request(sidecars("resign"), bucket, "good", data)
    assert status == 200, body
    assert moto_s3.get_object(Bucket=bucket, Key="good")["Body"].read() == data


def signed_chunked_request(sidecar, bucket, key, chunks, forge_chunk=None, header_line=None):
    """A STREAMING-AWS4-HMAC-SHA256-PAYLOAD PUT built by the test: every chunk signed, chained from the
    request signature, as the Java and Go SDKs send it. `forge_chunk` replaces that chunk's signature;
    `header_line` replaces the first chunk header line (raw bytes)."""
    import hmac

    data = b"".join(chunks)
    url = f"{sidecar.url}/{bucket}/{key}"
    headers = {
        "Content-Encoding": "aws-chunked",
        "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "x-amz-decoded-content-length": str(len(data)),
    }
    request = AWSRequest(method="PUT", url=url, headers=headers)
    botocore.auth.SigV4Auth(Credentials(e2e.ACCESS_KEY, e2e.SECRET_KEY), "s3", e2e.REGION).add_auth(request)
    signed = {name.lower(): value for name, value in request.headers.items()}
    amz_date = signed["x-amz-date"]
    scope = f"{amz_date[:8]}/{e2e.REGION}/s3/aws4_request"

    def mac(key_bytes, message):
        return hmac.new(key_bytes, message.encode(), hashlib.sha256).digest()

    signing_key = mac(mac(mac(mac(("AWS4" + e2e.SECRET_KEY).encode(), amz_date[:8]), e2e.REGION), "s3"), "aws4_request")
    previous = signed["authorization"].rsplit("Signature=", 1)[1]
    body = b""
    empty = hashlib.sha256(b"").hexdigest()
    for index, chunk in enumerate(list(chunks) + [b""]):
        string_to_sign = "\n".join(
            ["AWS4-HMAC-SHA256-PAYLOAD", amz_date, scope, previous, empty, hashlib.sha256(chunk).hexdigest()]
        )
        signature = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
        if index == forge_chunk:
            signature = "0" * 64
        line = f"{len(chunk):x};chunk-signature={signature}\r\n".encode()
        if index == 0 and header_line is not None:
            line = header_line
        body += line + chunk + b"\r\n"
        previous = signature
    signed["content-length"] = str(len(body))
    return e2e.raw_request("PUT", url, signed, body)


@pytest.mark.parametrize("mode", ["resign", "passthrough"])
def test_a_signed_chunk_upload_built_by_the_test_stores_the_exact_bytes(sidecars, bucket, moto_s3, mode):
    chunks = [os.urandom(65536), os.urandom(65536), os.urandom(1000)]
    status, _, body = signed_chunked_request(sidecars(mode), bucket, f"signed-{mode}.bin", chunks)
    assert status == 200, body
    # moto decodes signed aws-chunked bodies itself, so passthrough stores the object bytes too.
    assert moto_s3.get_object(Bucket=bucket, Key=f"signed-{mode}.bin")["Body"].read() == b"".join(chunks)


@pytest.mark.parametrize("forged", [0, 2, 3])  # a data chunk, the last data chunk, the final empty chunk
def test_a_forged_chunk_signature_is_signature_does_not_match_and_nothing_is_stored(sidecars, bucket, moto_s3, forged):
    chunks = [b"a" * 65536, b"b" * 65536, b"c" * 100]
    status, _, body = signed_chunked_request(sidecars("resign"), bucket, "forged.bin", chunks, forge_chunk=forged)
    assert status == 403, body
    assert e2e.s3_error_code(body) == "SignatureDoesNotMatch"
    assert e2e.object_keys(moto_s3, bucket) == []


def test_an_oversized_chunk_header_is_refused_and_nothing_is_stored(sidecars, bucket, moto_s3):
    status, _, body = signed_chunked_request(
        sidecars("resign"), bucket, "oversized.bin", [b"x" * 100], header_line=b"64;" + b"e" * 10_000 + b"\r\n"
    )
    assert status == 400, body
    assert e2e.s3_error_code(body) == "IncompleteBody"
    assert e2e.object_keys(moto_s3, bucket) == []


@pytest.mark.parametrize("mode", ["resign", "trusted"])
def test_boto3_trailer_upload_stores_the_exact_bytes_and_resign_carries_the_checksum_on(
    sidecars, bucket, moto_s3, mode
):
    """resign re-frames the decoded bytes as unsigned aws-chunked ending in the verified CRC32 trailer, so
    the backend stores the checksum as the client meant it; trusted sends plain bytes by default."""
    client = e2e.s3_client(sidecars(mode).url)
    data = os.urandom(1_500_000)
    key = f"trailer-{mode}.bin"
    with aws_chunked_over_http():
        client.put_object(Bucket=bucket, Key=key, Body=data, ChecksumAlgorithm="CRC32")
    assert moto_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == data
    head = moto_s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    if mode == "resign":
        assert head.get("ChecksumCRC32") == crc


# Bodies of 1 MiB or more have their chunk hashes and checksum computed off the event loop (on a worker
# thread, in parallel with forwarding): the same verdicts, delivered late, must still hold the end back.
BIG_CHUNKS = 40  # 40 x 64 KiB = 2.5 MiB


@pytest.mark.parametrize("mode", ["resign", "passthrough", "trusted"])
def test_a_large_signed_chunk_upload_hashed_off_the_loop_stores_the_exact_bytes(sidecars, bucket, moto_s3, mode):
    chunks = [os.urandom(65536) for _ in range(BIG_CHUNKS)] + [os.urandom(777)]
    key = f"big-signed-{mode}.bin"
    status, _, body = signed_chunked_request(sidecars(mode), bucket, key, chunks)
    assert status == 200, body
    assert moto_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"".join(chunks)


@pytest.mark.parametrize("forged", [1, BIG_CHUNKS // 2, BIG_CHUNKS])  # early, mid-body, the final empty chunk
def test_a_forged_chunk_in_a_large_body_is_refused_late_and_nothing_is_stored(sidecars, bucket, moto_s3, forged):
    chunks = [bytes([i]) * 65536 for i in range(BIG_CHUNKS)]
    status, _, body = signed_chunked_request(sidecars("resign"), bucket, "big-forged.bin", chunks, forge_chunk=forged)
    assert status == 403, body
    assert e2e.s3_error_code(body) == "SignatureDoesNotMatch"
    assert e2e.object_keys(moto_s3, bucket) == []


# A CRC32 trailer is computed inline, a SHA256 one off the loop: both must hold a lying body back.
@pytest.mark.parametrize("algorithm,lie", [("crc32", "AAAAAA=="), ("sha256", base64.b64encode(b"\0" * 32).decode())])
def test_a_lying_trailer_on_a_large_body_is_bad_digest_and_nothing_is_stored(sidecars, bucket, moto_s3, algorithm, lie):
    status, _, body = unsigned_trailer_request(
        sidecars("trusted"), bucket, "big-lying-trailer", os.urandom(3 << 20), trailer_crc=lie, algorithm=algorithm
    )
    assert status == 400, body
    assert e2e.s3_error_code(body) == "BadDigest"
    assert e2e.object_keys(moto_s3, bucket) == []
    data = os.urandom(3 << 20)
    status, _, body = unsigned_trailer_request(sidecars("trusted"), bucket, "big-trailer", data, algorithm=algorithm)
    assert status == 200, body
    assert moto_s3.get_object(Bucket=bucket, Key="big-trailer")["Body"].read() == data
