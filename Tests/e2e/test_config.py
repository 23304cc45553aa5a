"""The configuration file: `check-config` on the shipped example and on broken files (naming the field),
`serve --config` with flags and environment taking precedence, and key expiry and rotation in the
credentials file."""
import json
import os
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
    settings = {"upstream": moto.url, "credentials": "creds.json", "region": e2e.REGION, "upstreamTimeout": 60}
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
        config.write_text(json.dumps(settings))
        creds.write_text(json.dumps({"keys": [{"accessKeyId": "AKIANEWKEY", "secretAccessKey": "new/secret"}]}))
        os.kill(service.proc.pid, signal.SIGHUP)
        deadline = time.time() + 10
        while "apply only after a restart" not in service.tail(200):
            assert time.time() < deadline, service.tail()
            time.sleep(0.1)
        assert "config.changed=upstreamTimeout" in service.tail(200)
        e2e.s3_client(service.url, "AKIANEWKEY", "new/secret").list_objects_v2(Bucket=bucket)
        with pytest.raises(ClientError):
            e2e.s3_client(service.url).list_objects_v2(Bucket=bucket)
    finally:
        service.stop()
