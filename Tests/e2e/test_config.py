"""The configuration file: `check-config` on the shipped example and on broken files (naming the field),
`serve --config` with flags and environment taking precedence, and key expiry and rotation in the
credentials file."""
import json
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from botocore.exceptions import ClientError

import e2e_support as e2e
import tls_support

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "deploy" / "config.example.json"


def check_config(sidecar_bin, path, env=None):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("S3_SIDECAR_")}
    environment.update(env or {})
    return subprocess.run(
        [sidecar_bin, "check-config", str(path)], capture_output=True, text=True, timeout=30, env=environment
    )


@pytest.fixture
def example_on_this_host(tmp_path):
    """deploy/config.example.json with its file paths pointed at real files made here; every other value as
    shipped."""
    config = json.loads(EXAMPLE.read_text())
    ca = tls_support.CA(str(tmp_path))
    ca.issue(str(tmp_path / "fullchain.pem"), str(tmp_path / "key.pem"))
    (tmp_path / "creds.json").write_text(
        json.dumps({"keys": [{"accessKeyId": "AKIAEXAMPLE", "secretAccessKey": "example/secret"}]})
    )
    (tmp_path / "upstream-secret").write_text("upstream/secret\n")
    config.update(
        tlsCert="fullchain.pem",  # relative: resolved against the config file's folder
        tlsKey="key.pem",
        upstreamCa=ca.pem_path,
        credentials=str(tmp_path / "creds.json"),
        upstreamSecretAccessKeyFile=str(tmp_path / "upstream-secret"),
    )
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return path, config


def test_check_config_accepts_the_shipped_example(sidecar_bin, example_on_this_host):
    path, _ = example_on_this_host
    result = check_config(sidecar_bin, path)
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "TLS" in result.stdout


def test_the_shipped_example_has_every_option_and_nothing_else(sidecar_bin):
    # The example is the schema's documentation: it must parse, and an unknown key would be refused.
    config = json.loads(EXAMPLE.read_text())
    help_text = subprocess.run([sidecar_bin, "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    for key in config:
        flag = "--" + "".join("-" + c.lower() if c.isupper() else c for c in key)
        assert flag in help_text, f"{key} has no flag {flag}"


@pytest.mark.parametrize(
    "change, field",
    [
        ({"upstream": "ftp://minio"}, "upstream:"),
        ({"mode": "sideways"}, "mode:"),
        ({"listenn": "0.0.0.0:1"}, "listenn:"),
        ({"maxObjectSize": "5GB"}, "maxObjectSize:"),
        ({"drainTimeout": 0}, "drainTimeout:"),
        ({"tlsKey": "/nonexistent/key.pem"}, "tlsCert:"),
        ({"upstreamCa": "/nonexistent/ca.pem"}, "upstreamCa:"),
        ({"upstreamSecretAccessKeyFile": "/nonexistent/secret"}, "upstreamSecretAccessKeyFile:"),
    ],
)
def test_check_config_names_the_bad_field(sidecar_bin, example_on_this_host, change, field):
    path, config = example_on_this_host
    config.update(change)
    path.write_text(json.dumps(config))
    result = check_config(sidecar_bin, path)
    assert result.returncode != 0
    assert field in result.stderr, result.stderr


def test_check_config_names_the_bad_key_in_the_credentials_file(sidecar_bin, example_on_this_host):
    path, config = example_on_this_host
    Path(config["credentials"]).write_text(
        json.dumps(
            {
                "keys": [
                    {"accessKeyId": "A", "secretAccessKey": "a"},
                    {"accessKeyId": "B", "secretAccessKey": "b"},
                    {"accessKeyId": "C", "secretAccessKey": ""},
                ]
            }
        )
    )
    result = check_config(sidecar_bin, path)
    assert result.returncode != 0
    assert "credentials:" in result.stderr and "keys[2].secretAccessKey" in result.stderr, result.stderr


def test_serve_config_with_flag_and_environment_precedence(sidecar_bin, recorder, credentials_file, tmp_path):
    """resign mode over the recording upstream: the upstream Authorization names the access key id that won."""
    config = tmp_path / "sidecar.json"
    config.write_text(
        json.dumps(
            {
                "listen": "127.0.0.1:1",  # overridden by the flag below
                "upstream": recorder.url,
                "mode": "resign",
                "region": e2e.REGION,
                "credentials": credentials_file,
                "upstreamAccessKeyId": "FROM-FILE",
                "upstreamSecretAccessKey": "file/secret",
            }
        )
    )
    env = dict(os.environ, S3_SIDECAR_UPSTREAM_ACCESS_KEY_ID="FROM-ENV")
    service = e2e.start_service(
        "s3-sidecar (config)",
        lambda port: [sidecar_bin, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        str(tmp_path / "sidecar.log"),
        ready_timeout=30,
        env=env,
    )
    try:
        marker = f"/precedence/{uuid.uuid4().hex}"
        url = service.url + marker
        status, _, body = e2e.raw_request("GET", url, e2e.sign_headers("GET", url))
        assert status == 200, body
        recorded = [r for r in recorder.requests if r[1] == marker]
        assert recorded, "nothing reached the upstream"
        authorization = dict((k.lower(), v) for k, v in recorded[-1][2])["authorization"]
        assert "Credential=FROM-ENV/" in authorization
    finally:
        service.stop()


def test_serve_refuses_a_bad_config_naming_the_field(sidecar_bin, tmp_path):
    config = tmp_path / "sidecar.json"
    config.write_text(json.dumps({"upstream": "http://127.0.0.1:9", "credentials": "/x", "idleTimeout": "soon"}))
    result = subprocess.run(
        [sidecar_bin, "serve", "--config", str(config)], capture_output=True, text=True, timeout=30
    )
    assert result.returncode != 0
    assert "idleTimeout" in result.stderr


# MARK: - key expiry and rotation


@pytest.fixture
def keyed_sidecar(sidecar_bin, moto, tmp_path):
    creds = tmp_path / "creds.json"
    creds.write_text(
        json.dumps(
            {
                "keys": [
                    {"accessKeyId": "AKIAEXPIRED", "secretAccessKey": "expired/secret", "expires": "2020-01-01T00:00:00Z"},
                    {"accessKeyId": "AKIAFUTURE", "secretAccessKey": "future/secret", "expires": "2999-01-01T00:00:00Z"},
                    {
                        "accessKeyId": "AKIAROTATING",
                        "secretAccessKey": "new/secret",
                        "previousSecretAccessKey": "old/secret",
                    },
                ]
            }
        )
    )
    service = e2e.start_service(
        "s3-sidecar (keys)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", str(creds),
        ],
        str(tmp_path / "sidecar.log"),
        ready_timeout=30,
    )
    yield service
    service.stop()


def test_expired_key_is_refused_as_unknown_and_logged(keyed_sidecar, bucket):
    with pytest.raises(ClientError) as raised:
        e2e.s3_client(keyed_sidecar.url, "AKIAEXPIRED", "expired/secret").list_objects_v2(Bucket=bucket)
    assert raised.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert "access key expired" in keyed_sidecar.tail(200)
    assert "expired/secret" not in keyed_sidecar.tail(400)
    e2e.s3_client(keyed_sidecar.url, "AKIAFUTURE", "future/secret").list_objects_v2(Bucket=bucket)


def test_both_secrets_verify_during_rotation_and_no_other(keyed_sidecar, moto_s3, bucket):
    for secret in ("new/secret", "old/secret"):
        client = e2e.s3_client(keyed_sidecar.url, "AKIAROTATING", secret)
        client.put_object(Bucket=bucket, Key=f"rotation/{secret}", Body=b"x" * 100)
    assert sorted(e2e.object_keys(moto_s3, bucket)) == ["rotation/new/secret", "rotation/old/secret"]
    with pytest.raises(ClientError) as raised:
        e2e.s3_client(keyed_sidecar.url, "AKIAROTATING", "other/secret").list_objects_v2(Bucket=bucket)
    assert raised.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


def test_sighup_with_a_changed_config_reloads_keys_and_names_options_needing_a_restart(sidecar_bin, moto, tmp_path, bucket):
    creds = tmp_path / "creds.json"
    creds.write_text(json.dumps({"keys": [{"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY}]}))
    config = tmp_path / "sidecar.json"
    # An unchanged list (corsOrigin) is not a change; a new one (trustedProxy) is.
    settings = {"upstream": moto.url, "credentials": "creds.json", "region": e2e.REGION, "upstreamTimeout": 60,
                "corsOrigin": ["https://a.config.test"], "authRequireUnsignedPayload": True}
    config.write_text(json.dumps(settings))
    service = e2e.start_service(
        "s3-sidecar (config reload)",
        lambda port: [sidecar_bin, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}"],
        str(tmp_path / "sidecar.log"),
        ready_timeout=30,
    )
    try:
        e2e.s3_client(service.url).list_objects_v2(Bucket=bucket)
        settings["upstreamTimeout"] = 5
        settings["trustedProxy"] = ["10.0.0.0/8"]
        config.write_text(json.dumps(settings))
        creds.write_text(json.dumps({"keys": [{"accessKeyId": "AKIANEWKEY", "secretAccessKey": "new/secret"}]}))
        os.kill(service.proc.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while "apply only after a restart" not in service.tail(200):
            assert time.time() < deadline, service.tail()
            time.sleep(0.1)
        changed = re.search(r"config\.changed=([\w,]+)", service.tail(200))
        assert changed and changed.group(1) == "trustedProxy,upstreamTimeout", service.tail(200)
        e2e.s3_client(service.url, "AKIANEWKEY", "new/secret").list_objects_v2(Bucket=bucket)
        with pytest.raises(ClientError):
            e2e.s3_client(service.url).list_objects_v2(Bucket=bucket)
    finally:
        service.stop()


# MARK: - operations and browser keys from the file


APP_ORIGIN = "https://app.config.test"
API_KEY = "e2e-config-api-key-0123456789"


def start_from_config(sidecar_bin, config, tmp_path, name, extra_args=(), env=None):
    return e2e.start_service(
        f"s3-sidecar ({name})",
        lambda port: [sidecar_bin, "serve", "--config", str(config), "--listen", f"127.0.0.1:{port}", *extra_args],
        str(tmp_path / f"{name}.log"),
        ready_timeout=30,
        env=env,
    )


def wait_for(predicate, what, timeout=10):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, what
        time.sleep(0.1)


@pytest.fixture
def browser_config(moto, tmp_path):
    """A configuration file with the access log, JSON logs, CORS and the public URL (no such flags given)."""
    creds = tmp_path / "creds.json"
    creds.write_text(
        json.dumps(
            {
                "keys": [{"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY}],
                "apiKeys": [{"apiKey": API_KEY, "accessKeyId": e2e.ACCESS_KEY}],
            }
        )
    )
    settings = {
        "upstream": moto.url,
        "region": e2e.REGION,
        "credentials": "creds.json",
        "logFormat": "json",
        "accessLog": "logs/access.log",  # relative to the file's folder
        "corsOrigin": [APP_ORIGIN, "https://*.other.test"],
        "corsMaxAge": 77,
        "publicUrl": "https://files.config.test",
    }
    (tmp_path / "logs").mkdir()
    config = tmp_path / "sidecar.json"
    config.write_text(json.dumps(settings))
    return config, settings


def test_access_log_json_cors_and_public_url_from_the_config_file(sidecar_bin, browser_config, tmp_path, bucket):
    config, _ = browser_config
    service = start_from_config(sidecar_bin, config, tmp_path, "config-browser")
    try:
        # CORS from the file: the preflight is answered for a listed origin, refused for another.
        preflight = {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "PUT"}
        status, headers, _ = e2e.raw_request("OPTIONS", f"{service.url}/{bucket}/a.txt", preflight)
        assert status == 204
        assert headers["access-control-allow-origin"] == APP_ORIGIN
        assert headers["access-control-max-age"] == "77"
        status, headers, _ = e2e.raw_request(
            "OPTIONS", f"{service.url}/{bucket}/a.txt", {**preflight, "Origin": "https://evil.test"}
        )
        assert status == 403 and "access-control-allow-origin" not in headers

        # The presign API mints URLs on the public URL from the file.
        status, _, body = e2e.raw_request(
            "POST",
            f"{service.url}/api/object-storage/buckets/{bucket}/presign",
            {"Content-Type": "application/json", "X-API-Key": API_KEY},
            json.dumps({"key": "a.txt", "action": "download"}).encode(),
        )
        assert status == 200, body
        assert json.loads(body)["data"]["url"].startswith(f"https://files.config.test/{bucket}/a.txt?X-Amz-Algorithm=")

        # A signed request: one JSON line in the access log file the configuration names.
        e2e.s3_client(service.url).put_object(Bucket=bucket, Key="config/a.txt", Body=b"hello")
        access_log = tmp_path / "logs" / "access.log"
        wait_for(lambda: access_log.exists() and "config/a.txt" in access_log.read_text(), "no access-log line")
        lines = [json.loads(line) for line in access_log.read_text().splitlines()]
        put = [line for line in lines if line.get("key") == "config/a.txt"]
        assert len(put) == 1, lines
        assert (put[0]["method"], put[0]["action"], put[0]["status"]) == ("PUT", "write", 200)
        assert put[0]["access_key_id"] == e2e.ACCESS_KEY and put[0]["message"] == "access"
        assert e2e.SECRET_KEY not in access_log.read_text()
        # The process's own log lines are JSON too (logFormat).
        own = [line for line in service.tail(200).splitlines() if line.startswith("{")]
        assert own and all(isinstance(json.loads(line), dict) for line in own), service.tail(200)
    finally:
        service.stop()


def test_flags_replace_the_files_lists(sidecar_bin, browser_config, tmp_path):
    """--cors-origin replaces the file's corsOrigin (not appended); a flag not given leaves the file's value."""
    config, _ = browser_config
    other = "https://flag.config.test"
    service = start_from_config(sidecar_bin, config, tmp_path, "config-flags", ["--cors-origin", other])
    try:
        preflight = {"Access-Control-Request-Method": "GET"}
        status, headers, _ = e2e.raw_request("OPTIONS", f"{service.url}/b/k", {**preflight, "Origin": other})
        assert status == 204 and headers["access-control-max-age"] == "77"
        status, _, _ = e2e.raw_request("OPTIONS", f"{service.url}/b/k", {**preflight, "Origin": APP_ORIGIN})
        assert status == 403
    finally:
        service.stop()


def test_s3_sidecar_config_names_the_file_without_the_flag(sidecar_bin, browser_config, tmp_path):
    config, _ = browser_config
    env = dict(os.environ, S3_SIDECAR_CONFIG=str(config))
    service = e2e.start_service(
        "s3-sidecar (S3_SIDECAR_CONFIG)",
        lambda port: [sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}"],
        str(tmp_path / "config-env.log"),
        ready_timeout=30,
        env=env,
    )
    try:
        status, headers, _ = e2e.raw_request(
            "OPTIONS", f"{service.url}/b/k", {"Origin": APP_ORIGIN, "Access-Control-Request-Method": "GET"}
        )
        assert status == 204 and headers["access-control-allow-origin"] == APP_ORIGIN
    finally:
        service.stop()


@pytest.mark.parametrize(
    "change, field",
    [
        ({"trustedProxy": ["127.0.0.1", "10.0.0.0/8", "10.0.0.0/33"]}, "trustedProxy[2]:"),
        ({"corsOrigin": ["https://app.example.com/"]}, "corsOrigin[0]:"),
        ({"publicUrl": "https://files.example.com/prefix"}, "publicUrl:"),
        ({"logFormat": "xml"}, "logFormat:"),
        ({"authRequireUnsignedPayload": "yes"}, "authRequireUnsignedPayload:"),
    ],
)
def test_check_config_names_the_bad_operations_field(sidecar_bin, example_on_this_host, change, field):
    path, config = example_on_this_host
    config.update(change)
    path.write_text(json.dumps(config))
    result = check_config(sidecar_bin, path)
    assert result.returncode != 0
    assert field in result.stderr, result.stderr


def test_an_unwritable_access_log_from_the_file_stops_start_up(sidecar_bin, browser_config, tmp_path):
    config, settings = browser_config
    settings["accessLog"] = str(tmp_path / "no-such-dir" / "access.log")
    config.write_text(json.dumps(settings))
    result = subprocess.run(
        [sidecar_bin, "serve", "--config", str(config), "--listen", "127.0.0.1:0"],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert "access.log" in result.stderr, result.stderr
