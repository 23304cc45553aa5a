"""`s3-sidecar serve` with no --upstream: the sidecar in front of the embedded development store, driven
by boto3 and the AWS CLI with their defaults, using the key the sidecar printed."""
import hashlib
import os
import re
import socket
import subprocess
import time

import boto3
import pytest
import requests
from botocore.config import Config

import e2e_support as e2e


@pytest.fixture(scope="module")
def embedded(sidecar_bin, tmp_path_factory):
    """The sidecar with its embedded store; yields (service, exports from its banner, data directory)."""
    data = tmp_path_factory.mktemp("embedded-data")
    log = tmp_path_factory.mktemp("embedded-log") / "sidecar.log"
    service = e2e.start_service(
        "s3-sidecar (embedded store)",
        lambda port: [sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
        str(log),
        ready_timeout=30,
    )
    try:
        banner = e2e.read_log_when(log, "s3-sidecar listening on")
        exports = dict(re.findall(r"^export (AWS_[A-Z_]+)=(\S+)$", banner, re.MULTILINE))
        yield service, exports, data
    finally:
        service.stop()


def boto3_default(exports):
    """boto3 exactly as a newcomer would use it: the printed settings, no other configuration."""
    return boto3.session.Session().client(
        "s3",
        endpoint_url=exports["AWS_ENDPOINT_URL"],
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        region_name=exports["AWS_DEFAULT_REGION"],
    )


def test_the_banner_prints_the_four_export_lines(embedded):
    service, exports, data = embedded
    assert set(exports) == {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"}
    assert exports["AWS_ENDPOINT_URL"] == service.url
    assert (data / "credentials.json").stat().st_mode & 0o077 == 0, "the key file must be owner-only"


ODD_KEYS = ["plain.txt", "ünïcødé/日本語.txt", "with spaces/and+plus=eq.txt", "double//slash", "../../etc/passwd"]


def test_boto3_buckets_and_odd_keys_round_trip_inside_the_data_directory(embedded):
    _, exports, data = embedded
    client = boto3_default(exports)
    client.create_bucket(Bucket="odd-keys")
    assert "odd-keys" in [b["Name"] for b in client.list_buckets()["Buckets"]]
    for key in ODD_KEYS:
        client.put_object(Bucket="odd-keys", Key=key, Body=key.encode(), ContentType="text/plain",
                          Metadata={"origin": "e2e"})
        got = client.get_object(Bucket="odd-keys", Key=key)
        assert got["Body"].read() == key.encode()
        assert got["Metadata"] == {"origin": "e2e"}
        assert got["ContentType"] == "text/plain"
    listed = [o["Key"] for o in client.list_objects_v2(Bucket="odd-keys")["Contents"]]
    assert sorted(listed, key=lambda k: k.encode()) == sorted(ODD_KEYS, key=lambda k: k.encode())
    # A key that looks like a path out of the store is just a key: nothing was written outside it.
    assert not (data.parent / "etc").exists()
    for root, _, files in os.walk(data):
        assert os.path.realpath(root).startswith(os.path.realpath(data))


def test_ranged_get_and_etag_as_s3_computes_it(embedded):
    _, exports, _ = embedded
    client = boto3_default(exports)
    client.create_bucket(Bucket="ranges")
    body = bytes(range(256)) * 40
    put = client.put_object(Bucket="ranges", Key="bytes.bin", Body=body)
    assert put["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'
    part = client.get_object(Bucket="ranges", Key="bytes.bin", Range="bytes=100-199")
    assert part["Body"].read() == body[100:200]
    assert part["ContentRange"] == f"bytes 100-199/{len(body)}"


def test_listing_with_delimiter_and_pagination(embedded):
    _, exports, _ = embedded
    client = boto3_default(exports)
    client.create_bucket(Bucket="listing")
    for i in range(7):
        client.put_object(Bucket="listing", Key=f"dir{i % 2}/file{i}.txt", Body=b"x")
    client.put_object(Bucket="listing", Key="top.txt", Body=b"x")
    page = client.list_objects_v2(Bucket="listing", Delimiter="/")
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["dir0/", "dir1/"]
    assert [o["Key"] for o in page["Contents"]] == ["top.txt"]
    keys = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="listing", PaginationConfig={"PageSize": 3}):
        keys += [o["Key"] for o in page.get("Contents", [])]
    assert len(keys) == 8 and keys == sorted(keys)


def test_aws_cli_multipart_of_20_mb_with_s3s_multipart_etag(embedded, tmp_path):
    _, exports, _ = embedded
    source = tmp_path / "twenty.bin"
    source.write_bytes(os.urandom(20 * 1024 * 1024))
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(exports, AWS_CONFIG_FILE=os.devnull, AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_PAGER="")

    def aws(*args):
        result = subprocess.run(["aws", *args], env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
        assert result.returncode == 0, result.stderr.decode()
        return result.stdout.decode()

    aws("s3", "mb", "s3://cli")
    aws("s3", "cp", str(source), "s3://cli/twenty.bin")
    back = tmp_path / "back.bin"
    aws("s3", "cp", "s3://cli/twenty.bin", str(back))
    assert back.read_bytes() == source.read_bytes()
    # The CLI uploads in 8 MiB parts: S3's ETag is the MD5 of the part MD5s, then "-3".
    data = source.read_bytes()
    parts = [data[i:i + 8 * 1024 * 1024] for i in range(0, len(data), 8 * 1024 * 1024)]
    expected = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest() + f"-{len(parts)}"
    head = boto3_default(exports).head_object(Bucket="cli", Key="twenty.bin")
    assert head["ETag"] == f'"{expected}"'


def test_an_upload_cut_off_midway_leaves_no_object(embedded):
    service, exports, _ = embedded
    client = boto3_default(exports)
    client.create_bucket(Bucket="cutoff")
    url = f"{service.url}/cutoff/partial.bin"
    headers = e2e.sign_headers(
        "PUT", url, unsigned=True, access_key=exports["AWS_ACCESS_KEY_ID"], secret_key=exports["AWS_SECRET_ACCESS_KEY"]
    )
    headers["content-length"] = str(10 * 1024 * 1024)
    with socket.create_connection(("127.0.0.1", service.port), timeout=e2e.IO_TIMEOUT) as sock:
        head = f"PUT /cutoff/partial.bin HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        sock.sendall(head.encode() + b"y" * (3 * 1024 * 1024))
        time.sleep(0.5)
    deadline = time.time() + 10
    while time.time() < deadline:
        listed = client.list_objects_v2(Bucket="cutoff").get("Contents", [])
        if not listed:
            break
        time.sleep(0.2)
    assert client.list_objects_v2(Bucket="cutoff").get("Contents", []) == []


def test_a_tampered_presigned_url_is_refused_and_the_real_one_works(embedded):
    _, exports, _ = embedded
    client = boto3_default(exports)
    client.create_bucket(Bucket="presign")
    client.put_object(Bucket="presign", Key="hello.txt", Body=b"hello")
    v4 = boto3.session.Session().client(
        "s3",
        endpoint_url=exports["AWS_ENDPOINT_URL"],
        aws_access_key_id=exports["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=exports["AWS_SECRET_ACCESS_KEY"],
        region_name=exports["AWS_DEFAULT_REGION"],
        config=Config(signature_version="s3v4"),
    )
    for presigner in (client, v4):  # boto3's default (V2 for a custom endpoint) and SigV4
        url = presigner.generate_presigned_url("get_object", Params={"Bucket": "presign", "Key": "hello.txt"})
        assert requests.get(url, timeout=e2e.IO_TIMEOUT).content == b"hello"
        tampered = requests.get(url.replace("hello.txt", "hellO.txt"), timeout=e2e.IO_TIMEOUT)
        assert tampered.status_code == 403
        assert e2e.s3_error_code(tampered.content) == "SignatureDoesNotMatch"


def test_the_key_survives_a_restart(sidecar_bin, tmp_path):
    data = tmp_path / "data"

    def start_and_read_key():
        log = tmp_path / f"restart-{time.monotonic_ns()}.log"
        service = e2e.start_service(
            "s3-sidecar (restart)",
            lambda port: [sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(data)],
            str(log),
            ready_timeout=30,
        )
        try:
            banner = e2e.read_log_when(log, "s3-sidecar listening on")
        finally:
            service.stop()
        return re.search(r"^export AWS_ACCESS_KEY_ID=(\S+)$", banner, re.MULTILINE).group(1)

    assert start_and_read_key() == start_and_read_key()
