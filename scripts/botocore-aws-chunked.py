#!/usr/bin/env python3
"""Encode random bodies as botocore does for STREAMING-UNSIGNED-PAYLOAD-TRAILER, and print them as JSON.

Used by VerifierTests as an independent encoder of aws-chunked bodies with checksum trailers: each body
printed here must decode to its data, with its trailer checksum verified.

usage: botocore-aws-chunked.py --seed N --count N
"""
import argparse
import base64
import io
import json
import random

import botocore.httpchecksum as checksums

ALGORITHMS = {
    "crc32": checksums.Crc32Checksum,
    "sha1": checksums.Sha1Checksum,
    "sha256": checksums.Sha256Checksum,
}
try:  # CRC32C and CRC64NVME need the AWS CRT, an optional botocore dependency
    import awscrt  # noqa: F401
    ALGORITHMS["crc32c"] = checksums.CrtCrc32cChecksum
    ALGORITHMS["crc64nvme"] = checksums.CrtCrc64NvmeChecksum
except ImportError:
    pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    out = []
    for i in range(args.count):
        algorithm = sorted(ALGORITHMS)[i % len(ALGORITHMS)]
        data = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 1, 100, 8191, 65536, 70000])))
        chunk_size = rng.choice([1024, 8192, 65536])
        wrapper = checksums.AwsChunkedWrapper(
            io.BytesIO(data),
            checksum_cls=ALGORITHMS[algorithm],
            checksum_name="x-amz-checksum-" + algorithm,
            chunk_size=chunk_size,
        )
        out.append({
            "algorithm": algorithm,
            "data": base64.b64encode(data).decode(),
            "body": base64.b64encode(wrapper.read()).decode(),
        })
    print(json.dumps({"algorithms": sorted(ALGORITHMS), "bodies": out}))


if __name__ == "__main__":
    main()
