"""boto3 through the sidecar: the reference client, in every upstream mode and both checksum settings."""
import json
import urllib.request

import pytest
import requests

import e2e_support as e2e

# Keys whose signing goes wrong the moment anything re-encodes, decodes or normalizes the path.
AWKWARD_KEYS = [
    "plain.txt",
    "unicode-é-ß-ሴ-中-😀.txt",
    "with space and  two spaces.txt",
    "plus+sign",
    "equals=sign",
    "amp&ersand",
    "percent%20literal%2F",
    "tilde~home",
    "double//slash",
    "dir/sub dir/ünï cödé+&=~%.bin",
    "semi;colon,comma@at!bang$dollar'quote(paren)*star",
]

def allow_all_anonymous(moto_s3, bucket):
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"],
        }],
    }
    moto_s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))


CHECKSUM_SETTINGS = {
    "default-checksums": {},
    "when-required": {
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
    },
}


@pytest.mark.parametrize("checksums", list(CHECKSUM_SETTINGS))
@pytest.mark.parametrize("mode", ["passthrough", "resign", "trusted"])
def test_boto3_create_put_get_head_list_delete_with_awkward_keys_in_every_mode(sidecars, moto_s3, mode, checksums):
    sidecar = sidecars(mode)
    s3 = e2e.s3_client(sidecar.url, **CHECKSUM_SETTINGS[checksums])
    bucket = f"e2e-boto3-{mode}-{checksums}"

    s3.create_bucket(Bucket=bucket)
    assert bucket in [b["Name"] for b in moto_s3.list_buckets()["Buckets"]]
    if mode == "trusted":
        # trusted mode forwards without Authorization; moto takes such requests as anonymous and refuses
        # GET/HEAD/DELETE of private objects. An allow-all bucket policy makes it the no-auth backend
        # that trusted mode is meant for.
        allow_all_anonymous(moto_s3, bucket)

    for i, key in enumerate(AWKWARD_KEYS):
        body = f"body {i} of {key}".encode() * (i + 1)
        put = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="text/plain", Metadata={"n": str(i)})
        assert put["ResponseMetadata"]["HTTPStatusCode"] == 200

        got = s3.get_object(Bucket=bucket, Key=key)
        assert got["Body"].read() == body
        assert got["Metadata"] == {"n": str(i)}
        assert got["ResponseMetadata"]["HTTPHeaders"].get("x-amz-request-id")

        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["ContentLength"] == len(body)
        assert head["ContentType"] == "text/plain"

        ranged = s3.get_object(Bucket=bucket, Key=key, Range="bytes=2-5")
        assert ranged["Body"].read() == body[2:6]

    # The backend stored exactly the keys the client named.
    assert sorted(e2e.object_keys(moto_s3, bucket)) == sorted(AWKWARD_KEYS)
    listed = s3.list_objects_v2(Bucket=bucket)
    assert sorted(o["Key"] for o in listed["Contents"]) == sorted(AWKWARD_KEYS)
    # Unicode, '&', '=' and '+' in the query string, plus a delimiter.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="unicode-é")["Contents"]] == [AWKWARD_KEYS[1]]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="amp&")["Contents"]] == ["amp&ersand"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="plus+")["Contents"]] == ["plus+sign"]
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix="equals=")["Contents"]] == ["equals=sign"]
    by_dir = s3.list_objects_v2(Bucket=bucket, Prefix="dir/", Delimiter="/")
    assert [p["Prefix"] for p in by_dir["CommonPrefixes"]] == ["dir/sub dir/"]
    paged = s3.list_objects_v2(Bucket=bucket, MaxKeys=3)
    assert paged["IsTruncated"] and len(paged["Contents"]) == 3
    rest = s3.list_objects_v2(Bucket=bucket, ContinuationToken=paged["NextContinuationToken"])
    assert len(rest["Contents"]) == len(AWKWARD_KEYS) - 3

    for key in AWKWARD_KEYS[:-1]:
        s3.delete_object(Bucket=bucket, Key=key)
    # Multi-object delete: a POST with a body and a Content-MD5 or checksum header.
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": AWKWARD_KEYS[-1]}]})
    assert e2e.object_keys(moto_s3, bucket) == []
    s3.delete_bucket(Bucket=bucket)
    assert bucket not in [b["Name"] for b in moto_s3.list_buckets()["Buckets"]]


def test_boto3_missing_object_gives_the_backends_404_through_the_sidecar(client, bucket):
    with pytest.raises(client.exceptions.NoSuchKey):
        client.get_object(Bucket=bucket, Key="does/not exist")


def test_boto3_upload_fileobj_multipart_round_trips_bytes(client, moto_s3, bucket, tmp_path):
    from boto3.s3.transfer import TransferConfig

    data = bytes(range(256)) * (4096 * 6 + 7)  # ~6 MiB, not a multiple of the part size
    config = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024)
    source = tmp_path / "up.bin"
    source.write_bytes(data)
    client.upload_file(str(source), bucket, "multi part/ü.bin", Config=config)
    assert moto_s3.head_object(Bucket=bucket, Key="multi part/ü.bin")["ETag"].endswith('-2"')
    target = tmp_path / "down.bin"
    client.download_file(bucket, "multi part/ü.bin", str(target), Config=config)
    assert target.read_bytes() == data


# MARK: - presigned URLs


def test_presigned_get_with_awkward_key_is_fetched_by_requests_and_urllib(client, moto_s3, bucket):
    key = "presigned/ünï cödé+&=~%.txt"
    moto_s3.put_object(Bucket=bucket, Key=key, Body=b"presigned body")
    url = client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=300)
    assert "X-Amz-Signature=" in url, "boto3 made a SigV2 URL: the client must use signature_version='s3v4'"

    response = requests.get(url, timeout=e2e.IO_TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.content == b"presigned body"
    assert response.headers.get("x-amz-request-id")

    with urllib.request.urlopen(url, timeout=e2e.IO_TIMEOUT) as response:
        assert response.status == 200
        assert response.read() == b"presigned body"


def test_presigned_get_with_response_overrides_in_the_query(client, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="report.csv", Body=b"a,b\n")
    url = client.generate_presigned_url(
        "get_object",
        Params={
            "Bucket": bucket,
            "Key": "report.csv",
            "ResponseContentDisposition": 'attachment; filename="r é+&.csv"',
            "ResponseContentType": "text/csv",
        },
        ExpiresIn=300,
    )
    response = requests.get(url, timeout=e2e.IO_TIMEOUT)
    assert response.status_code == 200, response.text
    assert response.content == b"a,b\n"
    # moto 5.2 ignores response-content-type on GET, so the override itself is not checked here.


def test_presigned_put_with_its_content_type_creates_the_object(client, moto_s3, bucket):
    url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "upload é.png", "ContentType": "image/png"}, ExpiresIn=300
    )
    response = requests.put(url, data=b"\x89PNG fake", headers={"Content-Type": "image/png"}, timeout=e2e.IO_TIMEOUT)
    assert response.status_code == 200, response.text
    stored = moto_s3.get_object(Bucket=bucket, Key="upload é.png")
    assert stored["Body"].read() == b"\x89PNG fake"
    assert stored["ContentType"] == "image/png"


def test_presigned_put_with_another_content_type_is_refused_and_creates_nothing(client, moto_s3, bucket):
    url = client.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "upload.png", "ContentType": "image/png"}, ExpiresIn=300
    )
    response = requests.put(url, data=b"<html>", headers={"Content-Type": "text/html"}, timeout=e2e.IO_TIMEOUT)
    assert response.status_code == 403, response.text
    assert e2e.s3_error_code(response.content) == "SignatureDoesNotMatch"
    assert response.headers.get("x-amz-request-id")
    assert e2e.object_keys(moto_s3, bucket) == []
