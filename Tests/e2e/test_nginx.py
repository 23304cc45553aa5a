"""deploy/nginx end to end: Debian's nginx on loopback with the shipped config (placeholders filled), in
front of moto, asking the sidecar's /auth (admin listener) about every request."""
import json
import os
import signal
import time
import string
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import e2e_support as e2e

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "deploy" / "nginx" / "s3-sidecar.conf.template"
NGINX = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")
LIMITED = ("AKIAE2ENGINXLIMITED1", "nginx/Limited+Key=")


def render_template(**values):
    """The shipped template with its ${...} placeholders filled, like envsubst; anything else unchanged."""
    return string.Template(TEMPLATE.read_text()).safe_substitute(values)


def start_auth_sidecar(sidecar_bin, moto, directory, extra=()):
    """A sidecar whose admin listener serves /auth (its S3 listener is not used here)."""
    creds = directory / "creds.json"
    creds.write_text(json.dumps({"keys": [
        {"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY},
        {"accessKeyId": LIMITED[0], "secretAccessKey": LIMITED[1], "allow": [
            {"bucket": "*", "prefix": "public/", "actions": ["read"]},
        ]},
    ]}))
    admin_port = e2e.free_port()
    service = e2e.start_service(
        "s3-sidecar (nginx auth)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url,
            "--region", e2e.REGION, "--credentials", str(creds), "--admin-listen", f"127.0.0.1:{admin_port}",
            "--log-format", "json", "--access-log", str(directory / "access.log"), *extra,
        ],
        str(directory / "sidecar.log"),
        ready_timeout=30,
    )
    e2e.wait_for_port(admin_port, service.proc, 10, service.log_path)
    service.admin_port = admin_port
    service.creds = creds
    service.access_log = directory / "access.log"
    return service


def start_nginx(admin_port, moto, prefix):
    """Debian's nginx with the shipped template, as a foreground process under a private prefix."""
    if not os.access(NGINX, os.X_OK):
        pytest.fail(f"{NGINX} is missing: apt-get install nginx (.ci/run does)", pytrace=False)
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (prefix / sub).mkdir()

    def argv(port):
        (prefix / "s3-sidecar.conf").write_text(render_template(
            S3_LISTEN=f"127.0.0.1:{port}",
            S3_BACKEND=f"127.0.0.1:{moto.port}",
            SIDECAR_ADMIN=f"127.0.0.1:{admin_port}",
        ))
        # Run as whoever runs the tests (as root, nginx would hand its workers to "nobody").
        user = "user root;\n" if os.geteuid() == 0 else ""
        (prefix / "nginx.conf").write_text(f"""{user}worker_processes 1;
daemon off;
master_process on;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {prefix}/s3-sidecar.conf;
}}
""")
        return [NGINX, "-e", str(prefix / "error.log"), "-p", str(prefix), "-c", str(prefix / "nginx.conf")]

    service = e2e.start_service("nginx", argv, str(prefix / "stdout.log"), ready_timeout=15)
    service.prefix = prefix
    return service


@pytest.fixture(scope="module")
def nginx(sidecar_bin, moto, tmp_path_factory):
    sidecar = start_auth_sidecar(sidecar_bin, moto, tmp_path_factory.mktemp("nginx-sidecar"))
    server = start_nginx(sidecar.admin_port, moto, tmp_path_factory.mktemp("nginx"))
    server.sidecar = sidecar
    yield server
    server.stop()
    sidecar.stop()


@pytest.fixture(scope="module")
def strict_nginx(sidecar_bin, moto, tmp_path_factory):
    """The same, with the sidecar run with --auth-require-unsigned-payload."""
    sidecar = start_auth_sidecar(
        sidecar_bin, moto, tmp_path_factory.mktemp("nginx-strict-sidecar"), ["--auth-require-unsigned-payload"]
    )
    server = start_nginx(sidecar.admin_port, moto, tmp_path_factory.mktemp("nginx-strict"))
    yield server
    server.stop()
    sidecar.stop()


def fetch(url, method="GET"):
    """(status, headers, body) for a plain request to `url`; errors are answers too."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=e2e.IO_TIMEOUT) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()


def presigner(endpoint, access_key=e2e.ACCESS_KEY, secret_key=e2e.SECRET_KEY):
    return e2e.s3_client(endpoint, access_key=access_key, secret_key=secret_key)


def code(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"], raised.value.response["ResponseMetadata"]["HTTPStatusCode"]


def test_a_valid_presigned_get_passes_and_returns_the_object(nginx, moto_s3, bucket):
    data = os.urandom(50_000)
    moto_s3.put_object(Bucket=bucket, Key="dir/photo one.jpg", Body=data)
    url = presigner(nginx.url).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dir/photo one.jpg"}, ExpiresIn=300
    )
    status, _, body = fetch(url)
    assert status == 200
    assert body == data


def test_a_tampered_presigned_url_gets_signature_does_not_match(nginx, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="a.txt", Body=b"a")
    moto_s3.put_object(Bucket=bucket, Key="b.txt", Body=b"secret b")
    url = presigner(nginx.url).generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "a.txt"}, ExpiresIn=300
    )
    status, headers, body = fetch(url.replace("/a.txt?", "/b.txt?"))
    assert status == 403
    assert headers["content-type"].startswith("application/xml")
    assert e2e.s3_error_code(body) == "SignatureDoesNotMatch"
    assert b"secret b" not in body
    # The request id of the XML body is the one in the header.
    assert len(headers["x-amz-request-id"]) == 16
    assert f"<RequestId>{headers['x-amz-request-id']}</RequestId>".encode() in body
    assert f"<Resource>/{bucket}/b.txt</Resource>".encode() in body
    # The sidecar logged the verdict under that request id: the path, never the query or signature.
    log_text = nginx.sidecar.access_log.read_text()
    verdicts = [json.loads(line) for line in log_text.splitlines()]
    [line] = [v for v in verdicts if v["request_id"] == headers["x-amz-request-id"]]
    assert (line["message"], line["outcome"], line["status"]) == ("auth_request", "refused", 403)
    assert (line["error_code"], line["path"], line["method"]) == ("SignatureDoesNotMatch", f"/{bucket}/b.txt", "GET")
    assert url.split("X-Amz-Signature=")[1] not in log_text
    assert "X-Amz-Credential" not in log_text


def test_an_expired_presigned_url_is_refused(nginx, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="old.txt", Body=b"old")
    with e2e.signing_clock(e2e.utcnow().replace(microsecond=0) - __import__("datetime").timedelta(hours=2)):
        url = presigner(nginx.url).generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": "old.txt"}, ExpiresIn=60
        )
    status, _, body = fetch(url)
    assert status == 403
    assert e2e.s3_error_code(body) == "AccessDenied"
    assert "expired" in e2e.s3_error_message(body).lower()


def test_a_header_signed_boto3_client_uploads_and_downloads(nginx, moto_s3, bucket):
    client = e2e.s3_client(nginx.url)
    data = os.urandom(300_000)
    client.put_object(Bucket=bucket, Key="up/load.bin", Body=data, ContentType="application/octet-stream")
    assert client.get_object(Bucket=bucket, Key="up/load.bin")["Body"].read() == data
    assert moto_s3.get_object(Bucket=bucket, Key="up/load.bin")["Body"].read() == data
    assert [o["Key"] for o in client.list_objects_v2(Bucket=bucket)["Contents"]] == ["up/load.bin"]
    client.delete_object(Bucket=bucket, Key="up/load.bin")
    assert e2e.object_keys(moto_s3, bucket) == []


def test_a_key_outside_its_policy_gets_access_denied(nginx, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="public/ok.txt", Body=b"ok")
    moto_s3.put_object(Bucket=bucket, Key="private/no.txt", Body=b"no")
    limited = e2e.s3_client(nginx.url, access_key=LIMITED[0], secret_key=LIMITED[1])
    assert limited.get_object(Bucket=bucket, Key="public/ok.txt")["Body"].read() == b"ok"
    assert code(lambda: limited.get_object(Bucket=bucket, Key="private/no.txt")) == ("AccessDenied", 403)
    assert code(lambda: limited.put_object(Bucket=bucket, Key="public/new.txt", Body=b"x")) == ("AccessDenied", 403)
    assert sorted(e2e.object_keys(moto_s3, bucket)) == ["private/no.txt", "public/ok.txt"]


def test_a_bad_signature_never_reaches_the_backend(nginx, moto_s3, bucket):
    forged = e2e.s3_client(nginx.url, secret_key=e2e.WRONG_SECRET_KEY)
    assert code(lambda: forged.put_object(Bucket=bucket, Key="forged.txt", Body=b"evil")) == (
        "SignatureDoesNotMatch", 403
    )
    unknown = e2e.s3_client(nginx.url, access_key=e2e.UNKNOWN_ACCESS_KEY)
    assert code(lambda: unknown.put_object(Bucket=bucket, Key="unknown.txt", Body=b"evil")) == (
        "InvalidAccessKeyId", 403
    )
    assert e2e.object_keys(moto_s3, bucket) == []
    # nginx's own log shows what it proxied: never a PUT of these keys.
    access_log = (nginx.prefix / "access.log").read_text()
    assert "forged.txt" in access_log  # the refusal is logged...
    assert all(" 403 " in line for line in access_log.splitlines() if "forged.txt" in line)  # ...as refused


def test_a_400_class_verdict_reaches_the_client_with_its_own_status(nginx, bucket):
    # A presigned URL whose credential names no valid scope: S3 answers 400 AuthorizationQueryParametersError;
    # /auth can only say 403 to nginx, and the error page restores the 400.
    url = (
        f"{nginx.url}/{bucket}/x.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=bogus"
        "&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00"
    )
    status, headers, body = fetch(url)
    assert status == 400
    assert e2e.s3_error_code(body) == "AuthorizationQueryParametersError"
    assert headers["x-amz-request-id"]


def test_an_anonymous_request_is_refused_with_s3s_access_denied(nginx, bucket):
    status, _, body = fetch(f"{nginx.url}/{bucket}/anything")
    assert status == 403
    assert e2e.s3_error_code(body) == "AccessDenied"


def test_require_unsigned_payload_refuses_hashed_bodies_and_passes_presigned_uploads(strict_nginx, moto_s3, bucket):
    client = e2e.s3_client(strict_nginx.url)
    # boto3 over http signs the body's SHA-256, which /auth cannot check: refused.
    assert code(lambda: client.put_object(Bucket=bucket, Key="hashed.bin", Body=b"data")) == ("AccessDenied", 403)
    assert e2e.object_keys(moto_s3, bucket) == []
    # A presigned PUT is UNSIGNED-PAYLOAD: it passes.
    url = client.generate_presigned_url("put_object", Params={"Bucket": bucket, "Key": "presigned.bin"}, ExpiresIn=300)
    status, _, body = e2e.raw_request("PUT", url, {}, b"presigned body")
    assert status == 200, body
    assert moto_s3.get_object(Bucket=bucket, Key="presigned.bin")["Body"].read() == b"presigned body"
    # A body-less header-signed request: its hash (of the empty body) is checked by /auth, so it passes.
    assert client.get_object(Bucket=bucket, Key="presigned.bin")["Body"].read() == b"presigned body"


def test_a_reload_applies_to_auth_request_at_once(nginx, moto_s3, bucket):
    """/auth judges with the proxy's own key store: a key added by a reload works through nginx, and a key
    removed stops working."""
    new_key = ("AKIAE2ENGINXRELOADED", "nginx/Reloaded+Key=")
    moto_s3.put_object(Bucket=bucket, Key="reload.txt", Body=b"reloaded")
    sidecar = nginx.sidecar
    keys = json.loads(sidecar.creds.read_text())
    original = json.dumps(keys)
    newcomer = e2e.s3_client(nginx.url, access_key=new_key[0], secret_key=new_key[1])
    assert code(lambda: newcomer.get_object(Bucket=bucket, Key="reload.txt")) == ("InvalidAccessKeyId", 403)
    try:
        keys["keys"].append({"accessKeyId": new_key[0], "secretAccessKey": new_key[1]})
        keys["keys"] = [k for k in keys["keys"] if k["accessKeyId"] != LIMITED[0]]
        sidecar.creds.write_text(json.dumps(keys))
        os.kill(sidecar.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            try:
                assert newcomer.get_object(Bucket=bucket, Key="reload.txt")["Body"].read() == b"reloaded"
                break
            except ClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        limited = e2e.s3_client(nginx.url, access_key=LIMITED[0], secret_key=LIMITED[1])
        assert code(lambda: limited.get_object(Bucket=bucket, Key="reload.txt")) == ("InvalidAccessKeyId", 403)
    finally:
        sidecar.creds.write_text(original)
        os.kill(sidecar.proc.pid, signal.SIGHUP)


def test_with_the_sidecar_unreachable_nothing_passes(moto, moto_s3, bucket, tmp_path_factory):
    """auth_request fails closed: no sidecar means S3's ServiceUnavailable, never a request let through."""
    closed_port = e2e.free_port()  # nothing listens there
    server = start_nginx(closed_port, moto, tmp_path_factory.mktemp("nginx-no-sidecar"))
    try:
        client = e2e.s3_client(server.url)
        assert code(lambda: client.put_object(Bucket=bucket, Key="unchecked.txt", Body=b"x")) == (
            "ServiceUnavailable", 503
        )
        assert e2e.object_keys(moto_s3, bucket) == []
    finally:
        server.stop()
