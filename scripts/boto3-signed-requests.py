#!/usr/bin/env python3
"""Sign random S3 requests with boto3/botocore, the reference client, and print them as JSON.

Used by VerifierTests as an independent signer: every request printed here must verify. Nothing is
sent anywhere: a 'before-send' hook captures each request exactly as botocore would put it on the wire
(path, query, headers) and stops it there.

usage: boto3-signed-requests.py --seed N --count N
"""
import argparse
import json
import random
import string
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from botocore_capture import ENDPOINT, Recorder, random_credentials, random_text

KEY_ALPHABET = list(string.ascii_letters + string.digits) + list("-_.~ +=&%/$!*'(),;:@?#[]") + [
    "//", "./", "../", "é", "ß", "ሴ", "😀", "中", "%2F",
]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=100)
    args = parser.parse_args()
    rng = random.Random(args.seed)

    access_key, secret = random_credentials(rng)
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    recorder = Recorder()
    recorder.attach(client)

    def call(name, **kwargs):
        recorder.call(client, name, **kwargs)

    for _ in range(args.count):
        bucket = "bucket-" + str(rng.randint(0, 9))
        key = random_text(rng, KEY_ALPHABET, 1, 30).lstrip("/") or "k"
        op = rng.choice(["put", "get", "head", "delete", "list", "copy", "mpu", "part", "presign-get", "presign-put"])
        if op == "put":
            call("put_object", Bucket=bucket, Key=key, Body=random_text(rng, KEY_ALPHABET, 0, 64).encode(),
                 ContentType=rng.choice(["text/plain", "application/pdf", "image/png"]),
                 Metadata={"note": random_text(rng, string.ascii_letters + "  ", 1, 20)})
        elif op == "get":
            call("get_object", Bucket=bucket, Key=key, Range="bytes=0-%d" % rng.randint(1, 999))
        elif op == "head":
            call("head_object", Bucket=bucket, Key=key)
        elif op == "delete":
            call("delete_object", Bucket=bucket, Key=key)
        elif op == "list":
            call("list_objects_v2", Bucket=bucket, Prefix=random_text(rng, KEY_ALPHABET, 0, 10), Delimiter="/",
                 MaxKeys=rng.randint(1, 1000))
        elif op == "copy":
            call("copy_object", Bucket=bucket, Key=key,
                 CopySource={"Bucket": "src", "Key": random_text(rng, KEY_ALPHABET, 1, 20)})
        elif op == "mpu":
            call("create_multipart_upload", Bucket=bucket, Key=key)
        elif op == "part":
            call("upload_part", Bucket=bucket, Key=key, PartNumber=rng.randint(1, 10000),
                 UploadId=random_text(rng, string.ascii_letters + "-_.~", 10, 30), Body=b"x" * rng.randint(0, 100))
        else:
            method = "get_object" if op == "presign-get" else "put_object"
            params = {"Bucket": bucket, "Key": key}
            headers = [["Host", urlsplit(ENDPOINT).netloc]]
            if method == "put_object" and rng.random() < 0.5:
                params["ContentType"] = "application/pdf"
                headers.append(["Content-Type", "application/pdf"])
            if method == "get_object" and rng.random() < 0.5:
                params["ResponseContentDisposition"] = 'attachment; filename="%s"' % random_text(rng, KEY_ALPHABET, 1, 10)
            url = client.generate_presigned_url(method, Params=params, ExpiresIn=rng.randint(1, 604800))
            recorder.add_presigned(op, "GET" if method == "get_object" else "PUT", url, headers)

    print(json.dumps({"accessKeyId": access_key, "secretAccessKey": secret, "requests": recorder.requests}))


if __name__ == "__main__":
    main()
