"""Legacy Signature Version 2 end to end: boto3's V2 signer and its default presigner (which makes V2
URLs for a custom endpoint), s3cmd with signature_v2, and the switch that refuses V2."""
import shutil
import subprocess

import boto3
import pytest
import requests
from botocore.config import Config

import e2e_support as e2e


def v2_client(endpoint):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=e2e.ACCESS_KEY,
        aws_secret_access_key=e2e.SECRET_KEY,
        region_name=e2e.REGION,
        config=Config(signature_version="s3", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def default_presigner(endpoint):
    """boto3 with no signature_version: for a custom endpoint its presigner produces SigV2 URLs."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=e2e.ACCESS_KEY,
        aws_secret_access_key=e2e.SECRET_KEY,
        region_name=e2e.REGION,
        config=Config(s3={"addressing_style": "path"}),
    )


KEYS = ["plain.txt", "ünïcødé/ключ.txt", "with space+plus=eq.txt"]


@pytest.mark.parametrize("key", KEYS)
def test_boto3_v2_header_signed_put_and_get(sidecar, bucket, moto_s3, key):
    client = v2_client(sidecar.url)
    client.put_object(Bucket=bucket, Key=key, Body=b"v2 body", ContentType="text/plain")
    assert client.get_object(Bucket=bucket, Key=key)["Body"].read() == b"v2 body"
    assert moto_s3.get_object(Bucket=bucket, Key=key)["Body"].read() == b"v2 body"


def test_boto3_default_presigned_url_is_v2_and_works(sidecar, bucket, moto_s3):
    moto_s3.put_object(Bucket=bucket, Key="shared.txt", Body=b"shared")
    url = default_presigner(sidecar.url).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "shared.txt"}, ExpiresIn=300
    )
    assert "AWSAccessKeyId=" in url and "Signature=" in url
    response = requests.get(url, timeout=e2e.IO_TIMEOUT)
    assert response.status_code == 200
    assert response.content == b"shared"
    tampered = url.replace("shared.txt", "shared.tx")
    response = requests.get(tampered, timeout=e2e.IO_TIMEOUT)
    assert response.status_code == 403
    assert e2e.s3_error_code(response.content) == "SignatureDoesNotMatch"


def test_v2_presigned_put_is_bound_to_its_content_type(sidecar, bucket, moto_s3):
    url = v2_client(sidecar.url).generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "typed.pdf", "ContentType": "application/pdf"}, ExpiresIn=300
    )
    wrong = requests.put(url, data=b"%PDF", headers={"Content-Type": "text/html"}, timeout=e2e.IO_TIMEOUT)
    assert wrong.status_code == 403
    assert e2e.s3_error_code(wrong.content) == "SignatureDoesNotMatch"
    assert e2e.object_keys(moto_s3, bucket) == []
    right = requests.put(url, data=b"%PDF", headers={"Content-Type": "application/pdf"}, timeout=e2e.IO_TIMEOUT)
    assert right.status_code == 200, right.content
    assert e2e.object_keys(moto_s3, bucket) == ["typed.pdf"]


def test_v2_presigned_url_more_than_seven_days_ahead_is_refused(sidecar, bucket):
    url = v2_client(sidecar.url).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=604_800 + 3600
    )
    response = requests.get(url, timeout=e2e.IO_TIMEOUT)
    assert response.status_code == 400
    assert e2e.s3_error_code(response.content) == "AuthorizationQueryParametersError"


def test_v2_in_resign_mode_reaches_the_backend_signed_with_v4(recording_sidecars, recorder):
    sidecar = recording_sidecars("resign")
    recorder.take()
    try:
        v2_client(sidecar.url).get_object(Bucket="bucket", Key="k")
    except Exception:
        pass  # the recording upstream's reply is not a real object
    requests_seen = recorder.take()
    assert len(requests_seen) == 1
    headers = {k.lower(): v for k, v in requests_seen[0][2]}
    assert headers["authorization"].startswith("AWS4-HMAC-SHA256 Credential=" + e2e.UPSTREAM_ACCESS_KEY)


def test_a_sidecar_that_refuses_v2_answers_invalid_request(sidecar_bin, moto, credentials_file, workdir, bucket):
    service = e2e.start_service(
        "s3-sidecar (refuses V2)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", credentials_file, "--sigv2", "refuse",
        ],
        str(workdir / "sidecar-refuse-v2.log"),
        ready_timeout=30,
    )
    try:
        with pytest.raises(Exception) as raised:
            v2_client(service.url).get_object(Bucket=bucket, Key="k")
        assert "InvalidRequest" in str(raised.value)
        # V4 still works on the same sidecar.
        e2e.s3_client(service.url).put_object(Bucket=bucket, Key="v4.txt", Body=b"v4")
    finally:
        service.stop()


@pytest.mark.skipif(shutil.which("s3cmd") is None, reason="s3cmd is not installed (Debian package s3cmd)")
def test_s3cmd_with_signature_v2(sidecar, bucket, moto_s3, tmp_path):
    host = sidecar.url.removeprefix("http://")
    config = tmp_path / "s3cmd.cfg"
    config.write_text(
        "[default]\n"
        f"access_key = {e2e.ACCESS_KEY}\nsecret_key = {e2e.SECRET_KEY}\n"
        f"host_base = {host}\nhost_bucket = {host}\n"
        "use_https = False\nsignature_v2 = True\n"
    )
    source = tmp_path / "s3cmd upload+é.txt"
    source.write_bytes(b"from s3cmd\n" * 100)
    run = lambda *args: subprocess.run(
        ["s3cmd", "-c", str(config), *args], capture_output=True, text=True, timeout=60
    )
    put = run("put", str(source), f"s3://{bucket}/s3cmd/{source.name}")
    assert put.returncode == 0, put.stderr
    assert moto_s3.get_object(Bucket=bucket, Key=f"s3cmd/{source.name}")["Body"].read() == source.read_bytes()
    listing = run("ls", f"s3://{bucket}/s3cmd/")
    assert listing.returncode == 0, listing.stderr
    assert source.name in listing.stdout
    target = tmp_path / "back.txt"
    get = run("get", f"s3://{bucket}/s3cmd/{source.name}", str(target))
    assert get.returncode == 0, get.stderr
    assert target.read_bytes() == source.read_bytes()


def test_v2_requests_are_counted_on_the_admin_metrics_endpoint(sidecar_bin, moto, credentials_file, workdir, bucket):
    admin_port = e2e.free_port()
    service = e2e.start_service(
        "s3-sidecar (admin)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", credentials_file, "--admin-listen", f"127.0.0.1:{admin_port}",
        ],
        str(workdir / "sidecar-admin.log"),
        ready_timeout=30,
    )
    try:
        # The admin listener binds after the S3 one, which is what start_service waited for.
        e2e.wait_for_port(admin_port, service.proc, 10, service.log_path)
        admin = f"http://127.0.0.1:{admin_port}"
        assert requests.get(f"{admin}/healthz", timeout=e2e.IO_TIMEOUT).text == "ok\n"
        assert requests.get(f"{admin}/readyz", timeout=e2e.IO_TIMEOUT).status_code == 200
        v2_client(service.url).put_object(Bucket=bucket, Key="counted.txt", Body=b"1")
        e2e.s3_client(service.url).get_object(Bucket=bucket, Key="counted.txt")
        requests.get(f"{service.url}/{bucket}/anonymous", timeout=e2e.IO_TIMEOUT)
        metrics = requests.get(f"{admin}/metrics", timeout=e2e.IO_TIMEOUT).text
        assert 's3_sidecar_requests_total{signature="v2",form="header"} 1' in metrics
        assert 's3_sidecar_requests_total{signature="v4",form="header"} 1' in metrics
        assert 's3_sidecar_refused_requests_total{code="AccessDenied"} 1' in metrics
    finally:
        service.stop()
