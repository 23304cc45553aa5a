"""TLS on the listener (boto3 and the AWS CLI with their defaults, which over https means aws-chunked
uploads with a CRC trailer), certificate reload on SIGHUP, and an https upstream verified against a
private CA (a wrong CA is a 502)."""
import os
import signal
import ssl
import time
import uuid

import boto3
import pytest

import e2e_support as e2e
import tls_support
from test_awscli import aws_cli, run


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    directory = tmp_path_factory.mktemp("pki")
    ca = tls_support.CA(str(directory))
    wrong = tls_support.CA(str(directory), name="some other CA")
    cert, key = directory / "server.pem", directory / "server.key"
    serial = ca.issue(str(cert), str(key))
    return {"dir": directory, "ca": ca, "wrong": wrong, "cert": cert, "key": key, "serial": serial}


def tls_argv(sidecar_bin, upstream, credentials, cert, key, mode="resign", extra=()):
    def argv(port):
        args = [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", upstream, "--mode", mode,
            "--region", e2e.REGION, "--credentials", credentials, "--tls-cert", str(cert), "--tls-key", str(key),
        ]
        if mode == "resign":
            args += ["--upstream-access-key-id", e2e.UPSTREAM_ACCESS_KEY]
        return args + list(extra)

    return argv


def tls_client(endpoint, ca_path, access_key=e2e.ACCESS_KEY, secret_key=e2e.SECRET_KEY):
    """boto3 with its default checksum and payload settings, trusting only the test CA."""
    reference = e2e.s3_client(endpoint, access_key, secret_key)
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=reference.meta.config,
        verify=ca_path,
    )


def start(name, argv, log, resign=False):
    """Starts a sidecar; in resign mode the backend's secret comes from the environment, as in production."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S3_SIDECAR_")}
    if resign:
        environment["S3_SIDECAR_UPSTREAM_SECRET_ACCESS_KEY"] = e2e.UPSTREAM_SECRET_KEY
    return e2e.start_service(name, argv, str(log), ready_timeout=30, env=environment)


@pytest.fixture(scope="module")
def tls_sidecar(sidecar_bin, moto, credentials_file, pki, tmp_path_factory):
    """Resign mode over moto, so moto stores the decoded object (it keeps aws-chunked framing otherwise)."""
    log = tmp_path_factory.mktemp("tls") / "sidecar.log"
    service = start(
        "s3-sidecar (tls)", tls_argv(sidecar_bin, moto.url, credentials_file, pki["cert"], pki["key"]), log, resign=True
    )
    service.url = f"https://localhost:{service.port}"
    yield service
    service.stop()


def test_boto3_defaults_over_tls_upload_aws_chunked_with_trailer_and_bytes_arrive_intact(tls_sidecar, pki, moto_s3, bucket):
    client = tls_client(tls_sidecar.url, pki["ca"].pem_path)
    seen = {}

    def capture(request, **_):
        def text(value):
            return value.decode() if isinstance(value, bytes) else value

        seen["sha256"] = text(request.headers.get("x-amz-content-sha256"))
        seen["trailer"] = text(request.headers.get("x-amz-trailer"))

    client.meta.events.register("before-send.s3.PutObject", capture)
    data = os.urandom(3 * 1024 * 1024 + 17)
    client.put_object(Bucket=bucket, Key="tls/object.bin", Body=data)
    # The point of this test: over https boto3 streams aws-chunked with a checksum trailer.
    assert seen["sha256"] == "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
    assert seen["trailer"] and seen["trailer"].startswith("x-amz-checksum-")
    assert moto_s3.get_object(Bucket=bucket, Key="tls/object.bin")["Body"].read() == data
    assert client.get_object(Bucket=bucket, Key="tls/object.bin")["Body"].read() == data


def test_aws_cli_defaults_over_tls_multipart_round_trip(tls_sidecar, pki, moto_s3, bucket, tmp_path):
    aws, env = aws_cli(tmp_path)
    env["AWS_CA_BUNDLE"] = pki["ca"].pem_path
    source = tmp_path / "big.bin"
    data = os.urandom(9 * 1024 * 1024 + 5)
    source.write_bytes(data)
    endpoint = ["--endpoint-url", tls_sidecar.url]
    run(aws + ["s3", "cp", str(source), f"s3://{bucket}/cli/big.bin", "--only-show-errors"] + endpoint, env)
    assert moto_s3.get_object(Bucket=bucket, Key="cli/big.bin")["Body"].read() == data
    target = tmp_path / "back.bin"
    run(aws + ["s3", "cp", f"s3://{bucket}/cli/big.bin", str(target), "--only-show-errors"] + endpoint, env)
    assert target.read_bytes() == data


def test_client_that_does_not_trust_the_ca_fails_the_handshake(tls_sidecar, pki):
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_support.peer_serial(tls_sidecar.port, pki["wrong"].pem_path)


def test_alpn_offers_http11_only(tls_sidecar, pki):
    serial, protocol = tls_support.peer_serial(tls_sidecar.port, pki["ca"].pem_path, alpn=["h2", "http/1.1"])
    assert serial == pki["serial"]
    assert protocol == "http/1.1"


def test_plain_http_to_the_tls_listener_gets_no_s3_answer(tls_sidecar):
    with pytest.raises(Exception):
        e2e.raw_request("GET", f"http://127.0.0.1:{tls_sidecar.port}/", {}, timeout=5)


def test_sighup_reloads_the_certificate_and_a_mismatched_pair_is_refused(sidecar_bin, moto, credentials_file, pki, tmp_path):
    cert, key = tmp_path / "server.pem", tmp_path / "server.key"
    first = pki["ca"].issue(str(cert), str(key))
    log = tmp_path / "sidecar.log"
    service = start(
        "s3-sidecar (tls reload)", tls_argv(sidecar_bin, moto.url, credentials_file, cert, key), log, resign=True
    )
    try:
        assert tls_support.peer_serial(service.port, pki["ca"].pem_path)[0] == first
        # A long-lived connection opened before the reload keeps working on the old certificate.
        client = tls_client(f"https://localhost:{service.port}", pki["ca"].pem_path)
        client.list_buckets()

        second = pki["ca"].issue(str(cert), str(key), common_name="renewed")
        os.kill(service.proc.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while tls_support.peer_serial(service.port, pki["ca"].pem_path)[0] != second:
            assert time.time() < deadline, f"the new certificate never showed\n{service.tail()}"
            time.sleep(0.2)
        client.list_buckets()

        # A key that does not belong to the certificate: refused, logged, the second pair stays.
        tls_support.unrelated_key(str(key))
        os.kill(service.proc.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while "TLS reload refused" not in service.tail(200):
            assert time.time() < deadline, f"no refusal logged\n{service.tail()}"
            time.sleep(0.2)
        assert tls_support.peer_serial(service.port, pki["ca"].pem_path)[0] == second
        assert service.proc.poll() is None

        # No signal this time: the files changing on disk is enough (checked every 2 s).
        third = pki["ca"].issue(str(cert), str(key), common_name="renewed again")
        deadline = time.time() + 15
        while tls_support.peer_serial(service.port, pki["ca"].pem_path)[0] != third:
            assert time.time() < deadline, f"the file change was not picked up\n{service.tail()}"
            time.sleep(0.3)
    finally:
        service.stop()


# MARK: - https upstream


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_https_upstream_verified_with_private_ca_carries_requests(
    sidecar_bin, tls_sidecar, pki, credentials_file, moto_s3, bucket, tmp_path, host
):
    """Sidecar A (plain http, passthrough) → https → sidecar B (TLS, resign) → moto. A checks B's certificate
    against the private CA (by name with SNI, or by IP address), and B checks the client's signature again,
    as the real backend would."""
    front = start(
        "s3-sidecar (https upstream)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", f"https://{host}:{tls_sidecar.port}",
            "--upstream-ca", pki["ca"].pem_path, "--mode", "passthrough", "--region", e2e.REGION,
            "--credentials", credentials_file,
        ],
        tmp_path / "front.log",
    )
    try:
        client = e2e.s3_client(front.url)
        data = os.urandom(200_000)
        client.put_object(Bucket=bucket, Key="via/https.bin", Body=data)
        assert moto_s3.get_object(Bucket=bucket, Key="via/https.bin")["Body"].read() == data
        assert client.get_object(Bucket=bucket, Key="via/https.bin")["Body"].read() == data
    finally:
        front.stop()


@pytest.mark.parametrize("case", ["wrong CA", "system trust", "name not in certificate"])
def test_https_upstream_that_fails_verification_is_a_502(
    sidecar_bin, moto, tls_sidecar, pki, credentials_file, bucket, tmp_path, case
):
    upstream = tls_sidecar.url
    extra = []
    named_only = None
    if case == "wrong CA":
        extra = ["--upstream-ca", pki["wrong"].pem_path]
    elif case == "name not in certificate":
        # A certificate for "localhost" only, reached as https://127.0.0.1: the IP is not among its names.
        cert, key = tmp_path / "named.pem", tmp_path / "named.key"
        pki["ca"].issue(str(cert), str(key), ips=())
        named_only = start(
            "s3-sidecar (tls, name only)",
            tls_argv(sidecar_bin, moto.url, credentials_file, cert, key, mode="passthrough"),
            tmp_path / "named.log",
        )
        upstream = f"https://127.0.0.1:{named_only.port}"
        extra = ["--upstream-ca", pki["ca"].pem_path]
    log = tmp_path / "front.log"
    front = start(
        f"s3-sidecar (https upstream, {case})",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", upstream, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", credentials_file,
        ] + extra,
        log,
    )
    try:
        url = e2e.object_url(front.url, bucket, f"k-{uuid.uuid4().hex}")
        status, headers, body = e2e.raw_request("GET", url, e2e.sign_headers("GET", url))
        assert status == 502, body
        assert e2e.s3_error_code(body) == "BadGateway"
        assert headers.get("x-amz-request-id")
        assert "upstream TLS handshake failed" in front.tail(200)
    finally:
        front.stop()
        if named_only:
            named_only.stop()
