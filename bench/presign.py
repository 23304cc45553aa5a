#!/usr/bin/env python3
"""Prints a SigV4 presigned URL (path addressing) for the proxy benchmark.

usage: presign.py ENDPOINT BUCKET KEY ACCESS_KEY SECRET_KEY [EXPIRES_SECONDS] [METHOD]
"""
import sys

import boto3
from botocore.config import Config


def main():
    endpoint, bucket, key, access_key, secret_key = sys.argv[1:6]
    expires = int(sys.argv[6]) if len(sys.argv) > 6 else 3600
    method = sys.argv[7] if len(sys.argv) > 7 else "GET"
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    operation = {"GET": "get_object", "PUT": "put_object", "HEAD": "head_object"}[method]
    print(client.generate_presigned_url(operation, Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires))


if __name__ == "__main__":
    main()
