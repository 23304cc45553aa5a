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


def eventually(check, timeout=30):  # generous: a loaded CI machine polls late
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


def test_reload_under_load_keeps_requests_succeeding_and_a_removed_key_stops_at_once(reloading_sidecar, bucket):
    """Keys rotate (SIGHUP) ten times while a steady client keeps working: none of its requests fails, an
    upload that began before its key was removed still completes (in-flight requests finish, connections
    stay up), and the removed key is refused on the first request after the reload is logged."""
    import socket
    import threading

    service, creds, log = reloading_sidecar
    steady = e2e.s3_client(service.url)
    failures, successes = [], [0]
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                steady.put_object(Bucket=bucket, Key="steady", Body=b"steady")
                steady.get_object(Bucket=bucket, Key="steady")["Body"].read()
                successes[0] += 1
            except Exception as error:  # any failure at all is what this test is about
                failures.append(repr(error))

    def reloads_logged():
        return log.read_text().count("credentials reloaded")

    workers = [threading.Thread(target=hammer) for _ in range(3)]
    for worker in workers:
        worker.start()
    try:
        # A slow upload signed with the key about to go: head and half the body now, the rest later.
        write_keys(creds, (e2e.ACCESS_KEY, e2e.SECRET_KEY), NEW)
        os.kill(service.proc.pid, signal.SIGHUP)
        new = e2e.s3_client(service.url, access_key=NEW[0], secret_key=NEW[1])
        eventually(lambda: new.list_objects_v2(Bucket=bucket))
        body = os.urandom(2_000_000)
        url = e2e.object_url(service.url, bucket, "in-flight")
        headers = e2e.sign_headers("PUT", url, access_key=NEW[0], secret_key=NEW[1], unsigned=True)
        headers["content-length"] = str(len(body))
        headers["expect"] = "100-continue"
        headers["host"] = f"127.0.0.1:{service.port}"
        # The sidecar answers 100 Continue only once the head is authenticated: from then on the key may go.
        conn = socket.create_connection(("127.0.0.1", service.port), timeout=30)
        target = url.split(str(service.port), 1)[1]
        conn.sendall((f"PUT {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode())
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += conn.recv(4096)
        assert interim.startswith(b"HTTP/1.1 100"), interim
        conn.sendall(body[: len(body) // 2])

        for round in range(10):
            before = reloads_logged()
            keys = [(e2e.ACCESS_KEY, e2e.SECRET_KEY)] + ([NEW] if round % 2 else [])
            write_keys(creds, *keys)
            os.kill(service.proc.pid, signal.SIGHUP)
            eventually(lambda: reloads_logged() > before or (_ for _ in ()).throw(AssertionError("no reload")))
            if round % 2 == 0:
                # Removed: refused on the very next request, no grace period.
                with pytest.raises(ClientError) as raised:
                    new.list_objects_v2(Bucket=bucket)
                assert raised.value.response["Error"]["Code"] == "InvalidAccessKeyId"
            time.sleep(0.1)

        conn.sendall(body[len(body) // 2 :])
        reply = b""
        while b"\r\n\r\n" not in reply:
            reply += conn.recv(4096)
        assert reply.startswith(b"HTTP/1.1 200"), reply
        conn.close()
    finally:
        stop.set()
        for worker in workers:
            worker.join(timeout=30)
    assert failures == []
    assert successes[0] > 10
    assert steady.get_object(Bucket=bucket, Key="in-flight")["Body"].read() == body
