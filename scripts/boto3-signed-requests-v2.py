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

ENDPOINT = "http://s3.sidecar.test:9000"
KEY_ALPHABET = list(string.ascii_letters + string.digits) + list("-_.~ +=&%/$!*'(),;:@") + [
    "é", "ß", "ሴ", "😀", "中",
]


class Captured(Exception):
    pass


def text(rng, alphabet, low, high):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    access_key = "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    secret = "".join(rng.choice(string.ascii_letters + string.digits + "/+=") for _ in range(40))
    common = dict(endpoint_url=ENDPOINT, region_name="us-east-1", aws_access_key_id=access_key,
                  aws_secret_access_key=secret)
    v2 = boto3.client("s3", config=Config(signature_version="s3", s3={"addressing_style": "path"},
                                          retries={"max_attempts": 1}), **common)
    default = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **common)
    out = []
    current = {"op": ""}

    def capture(request, **_):
        url = urlsplit(request.url)
        headers = [[k, v.decode() if isinstance(v, bytes) else v] for k, v in request.headers.items()]
        if not any(k.lower() == "host" for k, _ in headers):
            headers.insert(0, ["Host", url.netloc])
        out.append({"operation": current["op"], "method": request.method,
                    "uri": url.path + ("?" + url.query if url.query else ""), "headers": headers})
        raise Captured()

    v2.meta.events.register("before-send.s3", capture)

    def call(name, **kwargs):
        current["op"] = name
        try:
            getattr(v2, name)(**kwargs)
        except Captured:
            pass

    for _ in range(args.count):
        bucket = "bucket-" + str(rng.randint(0, 9))
        key = text(rng, KEY_ALPHABET, 1, 24).lstrip("/") or "k"
        op = rng.choice(["put", "get", "list", "part", "acl", "presign-default", "presign-v2", "presign-put"])
        if op == "put":
            call("put_object", Bucket=bucket, Key=key, Body=b"data", ContentType="text/plain",
                 Metadata={"note": text(rng, string.ascii_letters + " ", 1, 12)})
        elif op == "get":
            call("get_object", Bucket=bucket, Key=key, VersionId=text(rng, string.ascii_letters, 5, 10),
                 ResponseContentDisposition="attachment; filename=" + text(rng, string.ascii_letters, 1, 8))
        elif op == "list":
            call("list_objects", Bucket=bucket, Prefix=text(rng, KEY_ALPHABET, 0, 8))
        elif op == "part":
            call("upload_part", Bucket=bucket, Key=key, PartNumber=rng.randint(1, 100),
                 UploadId=text(rng, string.ascii_letters + "-_.", 8, 20), Body=b"x" * 10)
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
            url = urlsplit(client.generate_presigned_url(method, Params=params, ExpiresIn=rng.randint(60, 604800)))
            out.append({"operation": op, "method": "PUT" if method == "put_object" else "GET",
                        "uri": url.path + "?" + url.query, "headers": headers})
    print(json.dumps({"accessKeyId": access_key, "secretAccessKey": secret, "requests": out}))


if __name__ == "__main__":
    main()
