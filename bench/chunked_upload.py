#!/usr/bin/env python3
"""One timed S3 PutObject through the sidecar, in one of three body forms, for bench/chunked-bench.sh.

  u  UNSIGNED-PAYLOAD: a plain body with Content-Length (header-form SigV4)
  t  STREAMING-UNSIGNED-PAYLOAD-TRAILER: aws-chunked, unsigned chunks, then an x-amz-checksum-crc32 trailer
  s  STREAMING-AWS4-HMAC-SHA256-PAYLOAD: aws-chunked, every chunk signed (chained from the request
     signature), the final zero-length chunk signed too

The object is a 1 MiB pseudo-random block (fixed seed) repeated SIZE_MIB times, so every per-chunk
SHA-256 and the CRC32 are computed once, before the clock starts, and the body goes out in large writes
with no per-byte work in Python: the client must not be what is measured. aws-chunked bodies carry an
exact Content-Length (the encoded size), as the Java SDK sends them; no Expect: 100-continue.

usage: chunked_upload.py put FORM URL ACCESS_KEY SECRET_KEY REGION SIZE_MIB CHUNK_KIB
           prints "STATUS SECONDS CLIENT_CPU_SECONDS BODY_BYTES_SENT"; exit 1 on a transport error
       chunked_upload.py verify FILE SIZE_MIB
           exit 0 when FILE holds exactly the bytes `put` sends as the object, else prints why, exit 1
"""
import base64
import hashlib
import hmac
import os
import random
import socket
import sys
import time
import urllib.parse
import zlib

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

BLOCK = 1 << 20
SEED = 20261122
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def block():
    return random.Random(SEED).randbytes(BLOCK)


def sign_head(method, url, headers, access_key, secret_key, region):
    """Header-form SigV4 with botocore's generic signer, which keeps the preset x-amz-content-sha256
    (botocore's S3SigV4Auth would replace a STREAMING-* value with a hash of the body)."""
    request = AWSRequest(method=method, url=url, headers=headers)
    SigV4Auth(Credentials(access_key, secret_key), "s3", region).add_auth(request)
    return {name: value for name, value in request.headers.items()}


def signing_key(secret_key, date, region):
    key = ("AWS4" + secret_key).encode()
    for part in (date, region, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def machine_busy_seconds():
    """Busy time of every core so far (user, nice, system, irq, softirq, steal in /proc/stat), or None."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(v) for v in fields[1:9]]
    return (ticks[0] + ticks[1] + ticks[2] + ticks[5] + ticks[6] + ticks[7]) / os.sysconf("SC_CLK_TCK")


def send_all_iov(sock, buffers):
    """sendmsg the whole list (scatter-gather: no copy of the chunk data), resuming after a short write."""
    views = [memoryview(b) for b in buffers]
    while views:
        sent = sock.sendmsg(views[:1024])  # IOV_MAX
        while sent:
            if sent >= len(views[0]):
                sent -= len(views[0])
                views.pop(0)
            else:
                views[0] = views[0][sent:]
                sent = 0


def read_response(sock):
    """Status code of an HTTP/1.1 response; reads its body (Content-Length or chunked) to the end."""
    f = sock.makefile("rb")
    status_line = f.readline()
    if not status_line:
        raise ConnectionError("connection closed before a response")
    status = int(status_line.split()[1])
    length, chunked = None, False
    while True:
        line = f.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        name, value = name.strip().lower(), value.strip()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding" and "chunked" in value.lower():
            chunked = True
    body = b""
    if chunked:
        while True:
            size = int(f.readline().split(b";")[0], 16)
            body += f.read(size + 2)[:size]
            if size == 0:
                while f.readline() not in (b"\r\n", b"\n", b""):
                    pass
                break
    elif length:
        body = f.read(length)
    return status, body


def put(form, url, access_key, secret_key, region, size_mib, chunk_kib):
    chunk = chunk_kib * 1024
    if form != "u" and (chunk <= 0 or BLOCK % chunk):
        raise SystemExit(f"chunk size {chunk_kib} KiB must divide 1024 KiB")
    data = block()
    total = size_mib * BLOCK
    parts = urllib.parse.urlsplit(url)
    host = parts.netloc
    headers = {"Host": host}

    # Everything the clock must not see: the head's signature, per-chunk hashes, the CRC32, the framing.
    if form == "u":
        headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        signed = sign_head("PUT", url, headers, access_key, secret_key, region)
        body_length = total
        group = data  # one 1 MiB write per block
    elif form == "t":
        crc = 0
        for _ in range(size_mib):
            crc = zlib.crc32(data, crc)
        trailer_value = base64.b64encode(crc.to_bytes(4, "big")).decode()
        framed_block = b"".join(
            b"%x\r\n" % chunk + data[i:i + chunk] + b"\r\n" for i in range(0, BLOCK, chunk)
        )  # every data chunk header is the same, so one framed 1 MiB block serves the whole body
        final = f"0\r\nx-amz-checksum-crc32:{trailer_value}\r\n\r\n".encode()
        headers.update({
            "Content-Encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
            "x-amz-trailer": "x-amz-checksum-crc32",
            "x-amz-decoded-content-length": str(total),
        })
        signed = sign_head("PUT", url, headers, access_key, secret_key, region)
        body_length = len(framed_block) * size_mib + len(final)
        group = framed_block
    elif form == "s":
        headers.update({
            "Content-Encoding": "aws-chunked",
            "x-amz-content-sha256": "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
            "x-amz-decoded-content-length": str(total),
        })
        signed = sign_head("PUT", url, headers, access_key, secret_key, region)
        amz_date = signed["X-Amz-Date"]
        scope = f"{amz_date[:8]}/{region}/s3/aws4_request"
        key = signing_key(secret_key, amz_date[:8], region)
        previous = signed["Authorization"].rsplit("Signature=", 1)[1]
        views = [memoryview(data)[i:i + chunk] for i in range(0, BLOCK, chunk)]
        hashes = [hashlib.sha256(v).hexdigest() for v in views]
        prefix = f"AWS4-HMAC-SHA256-PAYLOAD\n{amz_date}\n{scope}\n"
        iovs = []  # one scatter-gather list per 1 MiB block: header line, chunk data, CRLF + next header...
        for _ in range(size_mib):
            buffers = []
            for view, digest in zip(views, hashes):
                signature = hmac.new(
                    key, f"{prefix}{previous}\n{EMPTY_SHA256}\n{digest}".encode(), hashlib.sha256
                ).hexdigest()
                buffers += [f"{chunk:x};chunk-signature={signature}\r\n".encode(), view, b"\r\n"]
                previous = signature
            iovs.append(buffers)
        signature = hmac.new(
            key, f"{prefix}{previous}\n{EMPTY_SHA256}\n{EMPTY_SHA256}".encode(), hashlib.sha256
        ).hexdigest()
        final = f"0;chunk-signature={signature}\r\n\r\n".encode()
        body_length = sum(len(b) for buffers in iovs for b in buffers) + len(final)
    else:
        raise SystemExit(f"unknown form {form!r} (u, t or s)")

    signed["Content-Length"] = str(body_length)
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    head = f"PUT {target} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in signed.items()) + "\r\n"

    hostname, port = parts.hostname, parts.port or 80
    cpu0, busy0, t0 = time.process_time(), machine_busy_seconds(), time.perf_counter()
    sock = socket.create_connection((hostname, port))
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sent = body_length
        try:
            sock.sendall(head.encode())
            if form == "s":
                for buffers in iovs:
                    send_all_iov(sock, buffers)
                sock.sendall(final)
            else:
                for _ in range(size_mib):
                    sock.sendall(group)
                if form == "t":
                    sock.sendall(final)
        except (BrokenPipeError, ConnectionResetError):
            sent = -1  # the server answered (and closed) before the body was complete: read its answer
        status, body = read_response(sock)
    finally:
        sock.close()
    seconds, cpu, busy1 = time.perf_counter() - t0, time.process_time() - cpu0, machine_busy_seconds()
    if not 200 <= status < 300:
        sys.stderr.write(body.decode("utf-8", "replace")[:2000] + "\n")
    machine = f"{busy1 - busy0:.2f}" if busy0 is not None and busy1 is not None else "n/a"
    print(status, f"{seconds:.4f}", f"{cpu:.4f}", sent, machine)


def verify(path, size_mib):
    data = block()
    with open(path, "rb") as f:
        for index in range(size_mib):
            got = f.read(BLOCK)
            if got != data:
                print(f"{path}: block {index} differs (or is short: {len(got)} bytes)")
                return 1
        rest = f.read(1)
        if rest:
            print(f"{path}: longer than {size_mib} MiB")
            return 1
    return 0


def main():
    if len(sys.argv) == 9 and sys.argv[1] == "put":
        _, _, form, url, access_key, secret_key, region, size_mib, chunk_kib = sys.argv
        put(form, url, access_key, secret_key, region, int(size_mib), int(chunk_kib))
    elif len(sys.argv) == 4 and sys.argv[1] == "verify":
        sys.exit(verify(sys.argv[2], int(sys.argv[3])))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
