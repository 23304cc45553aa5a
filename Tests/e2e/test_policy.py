"""Per-key policies from the credentials file, end to end: a key limited to a bucket, a prefix and some
actions; a disabled key; and a key without a policy, which keeps full access."""
import json

import pytest
from botocore.exceptions import ClientError

import e2e_support as e2e

LIMITED = ("AKIAE2ELIMITEDKEY001", "limited/Secret+Key=")
DISABLED = ("AKIAE2EDISABLEDKEY01", "disabled/Secret+Key=")


@pytest.fixture(scope="module")
def policy_sidecar(sidecar_bin, moto, tmp_path_factory):
    directory = tmp_path_factory.mktemp("policy")
    creds = directory / "creds.json"
    creds.write_text(json.dumps({"keys": [
        {"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY},
        {"accessKeyId": LIMITED[0], "secretAccessKey": LIMITED[1], "allow": [
            {"bucket": "policy-photos", "prefix": "uploads/", "actions": ["read", "write", "list", "multipart"]},
        ]},
        {"accessKeyId": DISABLED[0], "secretAccessKey": DISABLED[1], "disabled": True},
    ]}))
    service = e2e.start_service(
        "s3-sidecar (policies)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", str(creds),
        ],
        str(directory / "sidecar.log"),
        ready_timeout=30,
    )
    yield service
    service.stop()


def code(call):
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response["Error"]["Code"]


def test_a_limited_key_works_under_its_prefix_and_nowhere_else(policy_sidecar, moto_s3):
    for name in ("policy-photos", "policy-other"):
        try:
            moto_s3.create_bucket(Bucket=name)
        except ClientError:
            pass
    moto_s3.put_object(Bucket="policy-photos", Key="private/secret.txt", Body=b"secret")
    limited = e2e.s3_client(policy_sidecar.url, access_key=LIMITED[0], secret_key=LIMITED[1])

    limited.put_object(Bucket="policy-photos", Key="uploads/a.txt", Body=b"mine")
    assert limited.get_object(Bucket="policy-photos", Key="uploads/a.txt")["Body"].read() == b"mine"
    listed = limited.list_objects_v2(Bucket="policy-photos", Prefix="uploads/")
    assert [o["Key"] for o in listed["Contents"]] == ["uploads/a.txt"]

    assert code(lambda: limited.put_object(Bucket="policy-photos", Key="private/b.txt", Body=b"x")) == "AccessDenied"
    assert code(lambda: limited.get_object(Bucket="policy-photos", Key="private/secret.txt")) == "AccessDenied"
    assert code(lambda: limited.list_objects_v2(Bucket="policy-photos")) == "AccessDenied"
    assert code(lambda: limited.delete_object(Bucket="policy-photos", Key="uploads/a.txt")) == "AccessDenied"
    assert code(lambda: limited.put_object(Bucket="policy-other", Key="uploads/a.txt", Body=b"x")) == "AccessDenied"
    assert code(lambda: limited.copy_object(
        Bucket="policy-photos", Key="uploads/copy.txt", CopySource={"Bucket": "policy-photos", "Key": "private/secret.txt"}
    )) == "AccessDenied"
    # Nothing a refused request asked for reached the backend.
    assert sorted(e2e.object_keys(moto_s3, "policy-photos")) == ["private/secret.txt", "uploads/a.txt"]
    assert e2e.object_keys(moto_s3, "policy-other") == []


def test_a_disabled_key_is_an_unknown_key(policy_sidecar):
    disabled = e2e.s3_client(policy_sidecar.url, access_key=DISABLED[0], secret_key=DISABLED[1])
    assert code(lambda: disabled.list_buckets()) == "InvalidAccessKeyId"


def test_a_key_without_a_policy_keeps_full_access(policy_sidecar, moto_s3, bucket):
    full = e2e.s3_client(policy_sidecar.url)
    full.put_object(Bucket=bucket, Key="anything/at/all", Body=b"ok")
    full.delete_object(Bucket=bucket, Key="anything/at/all")
    assert e2e.object_keys(moto_s3, bucket) == []


def test_a_policy_with_an_unknown_action_is_refused_at_start_naming_the_field(sidecar_bin, tmp_path):
    import subprocess
    creds = tmp_path / "bad.json"
    creds.write_text(json.dumps({"keys": [{"accessKeyId": "AK", "secretAccessKey": "S", "allow": [
        {"bucket": "*", "actions": ["read", "fly"]}]}]}))
    result = subprocess.run(
        [sidecar_bin, "serve", "--listen", "127.0.0.1:0", "--upstream", "http://127.0.0.1:9", "--credentials", str(creds)],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0
    assert 'keys[0].allow[0].actions: unknown action "fly"' in result.stderr
