#!/usr/bin/env python3
"""Sign random S3 requests with boto3's legacy Signature Version 2 and print them as JSON.

Covers both forms: `signature_version="s3"` header-signed calls, and presigned URLs from boto3's
default presigner with a custom endpoint (which produces V2 query URLs) and from an explicit "s3"
config. Nothing is sent: a 'before-send' hook captures each request as it would go on the wire.

usage: boto3-signed-requests-v2.py --seed N --count N
"""
import argparse
import json
import random
import string
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from botocore_capture import ENDPOINT, Recorder, random_credentials, random_text

KEY_ALPHABET = list(string.ascii_letters + string.digits) + list("-_.~ +=&%/$!*'(),;:@") + [
    "é", "ß", "ሴ", "😀", "中",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    access_key, secret = random_credentials(rng)
    common = dict(endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=access_key,
                  aws_secret_access_key=secret)
    v2 = boto3.client("s3", config=Config(signature_version="s3", s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}), **common)
    default = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **common)
    recorder = Recorder()
    recorder.attach(v2)

    def call(name, **kwargs):
        recorder.call(v2, name, **kwargs)

    for _ in range(args.count):
        bucket = "bucket-" + str(rng.randint(0, 9))
        key = random_text(rng, KEY_ALPHABET, 1, 24).lstrip("/") or "k"
        op = rng.choice(["put", "get", "list", "part", "acl", "presign-default", "presign-v2", "presign-put"])
        if op == "put":
            call("put_object", Bucket=bucket, Key=key, Body=b"data", ContentType="text/plain",
                 Metadata={"note": random_text(rng, string.ascii_letters + " ", 1, 12)})
        elif op == "get":
            call("get_object", Bucket=bucket, Key=key, VersionId=random_text(rng, string.ascii_letters, 5, 10),
                 ResponseContentDisposition="attachment; filename=" + random_text(rng, string.ascii_letters, 1, 8))
        elif op == "list":
            call("list_objects", Bucket=bucket, Prefix=random_text(rng, KEY_ALPHABET, 0, 8))
        elif op == "part":
            call("upload_part", Bucket=bucket, Key=key, PartNumber=rng.randint(1, 100),
                 UploadId=random_text(rng, string.ascii_letters + "-_.", 8, 20), Body=b"x" * 10)
        elif op == "acl":
            call("get_object_acl", Bucket=bucket, Key=key)
        else:
            client = default if op == "presign-default" else v2
            method = "put_object" if op == "presign-put" else "get_object"
            params = {"Bucket": bucket, "Key": key}
            headers = [["Host", urlsplit(ENDPOINT).netloc]]
            if method == "put_object":
                params["ContentType"] = "application/pdf"
                headers.append(["Content-Type", "application/pdf"])
            url = client.generate_presigned_url(method, Params=params, ExpiresIn=rng.randint(60, 604800))
            recorder.add_presigned(op, "PUT" if method == "put_object" else "GET", url, headers)
    print(json.dumps({"accessKeyId": access_key, "secretAccessKey": secret, "requests": recorder.requests}))


if __name__ == "__main__":
    main()
