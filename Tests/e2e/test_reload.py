"""Reloading the credentials file while the sidecar runs: on SIGHUP and when the file changes, new keys
apply to new requests; a broken file is refused and the keys in force stay."""
import json
import os
import signal
import time

import pytest
from botocore.exceptions import ClientError

import e2e_support as e2e

NEW = ("AKIAE2ERELOADEDKEY01", "reloaded/Secret+Key=")


def write_keys(path, *keys):
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps({"keys": [{"accessKeyId": k, "secretAccessKey": s} for k, s in keys]}))
    os.replace(temporary, path)  # atomic, as an operator's tooling would


def eventually(check, timeout=10):
    deadline = time.time() + timeout
    while True:
        try:
            return check()
        except (AssertionError, ClientError):
            if time.time() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def reloading_sidecar(sidecar_bin, moto, tmp_path):
    creds = tmp_path / "creds.json"
    write_keys(creds, (e2e.ACCESS_KEY, e2e.SECRET_KEY))
    log = tmp_path / "sidecar.log"
    service = e2e.start_service(
        "s3-sidecar (reload)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", str(creds),
        ],
        str(log),
        ready_timeout=30,
    )
    yield service, creds, log
    service.stop()


def test_sighup_puts_new_keys_in_force_and_a_broken_file_is_refused(reloading_sidecar, bucket):
    service, creds, log = reloading_sidecar
    old = e2e.s3_client(service.url)
    new = e2e.s3_client(service.url, access_key=NEW[0], secret_key=NEW[1])
    with pytest.raises(ClientError) as raised:
        new.list_objects_v2(Bucket=bucket)
    assert raised.value.response["Error"]["Code"] == "InvalidAccessKeyId"

    write_keys(creds, (NEW[0], NEW[1]))
    os.kill(service.proc.pid, signal.SIGHUP)
    eventually(lambda: new.list_objects_v2(Bucket=bucket))
    with pytest.raises(ClientError) as raised:
        old.list_objects_v2(Bucket=bucket)
    assert raised.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    text = log.read_text()
    assert "credentials reloaded" in text and NEW[0] in text
    assert NEW[1] not in text and e2e.SECRET_KEY not in text, "a secret reached the log"

    creds.write_text("{ not json")
    os.kill(service.proc.pid, signal.SIGHUP)
    def refused():
        assert "credentials reload refused" in log.read_text()

    eventually(refused)
    new.list_objects_v2(Bucket=bucket)  # the last good keys stay in force
    assert service.proc.poll() is None


def test_a_changed_file_is_picked_up_without_a_signal(reloading_sidecar, bucket):
    service, creds, _ = reloading_sidecar
    new = e2e.s3_client(service.url, access_key=NEW[0], secret_key=NEW[1])
    write_keys(creds, (e2e.ACCESS_KEY, e2e.SECRET_KEY), (NEW[0], NEW[1]))
    eventually(lambda: new.list_objects_v2(Bucket=bucket))


def test_a_secret_volume_update_is_picked_up(sidecar_bin, moto, tmp_path, bucket):
    """A Kubernetes Secret volume: creds.json -> ..data/creds.json, and an update swaps the ..data link to
    a new directory; the file's own link never changes, so the sidecar must look through the links."""
    volume = tmp_path / "secret"
    (volume / "..v1").mkdir(parents=True)
    (volume / "..v2").mkdir()
    write_keys(volume / "..v1" / "creds.json", (e2e.ACCESS_KEY, e2e.SECRET_KEY))
    write_keys(volume / "..v2" / "creds.json", (NEW[0], NEW[1]))
    (volume / "..data").symlink_to("..v1")
    (volume / "creds.json").symlink_to("..data/creds.json")
    service = e2e.start_service(
        "s3-sidecar (secret volume)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", str(volume / "creds.json"),
        ],
        str(tmp_path / "sidecar.log"),
        ready_timeout=30,
    )
    try:
        (volume / "..data_tmp").symlink_to("..v2")
        os.replace(volume / "..data_tmp", volume / "..data")  # what the kubelet does, atomically
        new = e2e.s3_client(service.url, access_key=NEW[0], secret_key=NEW[1])
        eventually(lambda: new.list_objects_v2(Bucket=bucket))
    finally:
        service.stop()
