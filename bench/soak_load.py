#!/usr/bin/env python3
"""The soak test's mixed load (run by bench/soak.sh, which starts the backend and the sidecar).

For SOAK_MINUTES it keeps, at once: presigned small GETs, header-signed small PUTs, presigned uploads
followed by presigned downloads, a large PUT and GET each minute, deliberately refused requests (wrong
secret, unknown key, expired URL), and connections opened and dropped (closed at once, cut mid-head,
closed without reading the answer). Each minute it samples the sidecar's RSS and open descriptors; at the
end it prints requests served by kind, outcomes by status and S3 code (anything besides the deliberate
refusals counts as an error), the samples, and the drift between the first and the last quarter.

usage: soak_load.py ENDPOINT SIDECAR_PID MINUTES
"""
import collections
import http.client
import os
import socket
import sys
import threading
import time
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import boto3
import botocore.auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

ACCESS_KEY = os.environ["SOAK_ACCESS_KEY"]
SECRET_KEY = os.environ["SOAK_SECRET_KEY"]
REGION = "us-east-1"
BUCKET = "soak"
MB = 1024 * 1024

endpoint, sidecar_pid, minutes = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
parts = urlsplit(endpoint)
HOST, PORT = parts.hostname, parts.port
stop = threading.Event()
lock = threading.Lock()
served = collections.Counter()  # kind -> requests answered as expected
outcomes = collections.Counter()  # (kind, status, code) -> count, unexpected ones only
refusals = collections.Counter()  # (status, code) of deliberate refusals


def client(secret=SECRET_KEY, access=ACCESS_KEY):
    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name=REGION,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def presign(method, key, expires=3600, c=None):
    operation = {"GET": "get_object", "PUT": "put_object"}[method]
    return (c or client()).generate_presigned_url(operation, Params={"Bucket": BUCKET, "Key": key}, ExpiresIn=expires)


def sign(method, url, body=b"", unsigned=False):
    request = AWSRequest(method=method, url=url, data=body)
    if unsigned:
        request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    botocore.auth.S3SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY), "s3", REGION).add_auth(request)
    return dict(request.headers.items())


def code_of(body):
    try:
        element = ET.fromstring(body).find("Code")
        return element.text if element is not None else None
    except ET.ParseError:
        return None


def record(kind, status, body, expected=(200,)):
    with lock:
        if status in expected:
            served[kind] += 1
        else:
            outcomes[(kind, status, code_of(body) if body else None)] += 1


def target(url):
    p = urlsplit(url)
    return p.path + (f"?{p.query}" if p.query else "")


class Connection:
    """One keep-alive connection, reopened after a failure."""

    def __init__(self):
        self.conn = None

    def request(self, method, url, headers=None, body=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(HOST, PORT, timeout=60)
            try:
                self.conn.request(method, target(url), body=body, headers=headers or {})
                response = self.conn.getresponse()
                data = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return response.status, data
            except (OSError, http.client.HTTPException) as error:
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    return None, repr(error).encode()
        return None, b""


def loop(kind, body, pause=0.0):
    def run():
        while not stop.is_set():
            try:
                body()
            except Exception as error:  # counted, never fatal: the soak goes on
                with lock:
                    outcomes[(kind, "exception", type(error).__name__)] += 1
                time.sleep(0.5)
            if pause:
                stop.wait(pause)

    return threading.Thread(target=run, name=kind, daemon=True)


# MARK: - the kinds of load

def small_get_worker():
    conn = Connection()
    state = {"url": presign("GET", "small.bin"), "made": time.time()}

    def once():
        if time.time() - state["made"] > 600:
            state.update(url=presign("GET", "small.bin"), made=time.time())
        status, data = conn.request("GET", state["url"])
        record("presigned small GET", status, data)

    return once


def small_put_worker():
    conn = Connection()
    payload = os.urandom(4096)
    counter = [0]

    def once():
        counter[0] = (counter[0] + 1) % 64
        url = f"{endpoint}/{BUCKET}/put/{counter[0]}.bin"
        headers = sign("PUT", url, payload)
        status, data = conn.request("PUT", url, headers=headers, body=payload)
        record("signed small PUT", status, data, expected=(200, 201, 204))

    return once


def presigned_round_trip_worker():
    conn = Connection()
    payload = os.urandom(64 * 1024)
    counter = [0]

    def once():
        counter[0] = (counter[0] + 1) % 16
        key = f"presigned/{counter[0]}.bin"
        status, data = conn.request("PUT", presign("PUT", key), body=payload)
        record("presigned upload", status, data, expected=(200, 201, 204))
        status, data = conn.request("GET", presign("GET", key))
        ok = status == 200 and data == payload
        record("presigned download", 200 if ok else status, data if not ok else b"")

    return once


def large_worker():
    size = int(os.environ.get("SOAK_LARGE_MIB", "64")) * MB
    piece = os.urandom(MB)

    def once():
        url = f"{endpoint}/{BUCKET}/large.bin"
        headers = sign("PUT", url, unsigned=True)
        headers["Content-Length"] = str(size)
        headers["Host"] = f"{HOST}:{PORT}"
        conn = http.client.HTTPConnection(HOST, PORT, timeout=120)
        try:
            conn.putrequest("PUT", target(url), skip_host=True, skip_accept_encoding=True)
            for name, value in headers.items():
                conn.putheader(name, value)
            conn.endheaders()
            for _ in range(size // MB):
                conn.send(piece)
            response = conn.getresponse()
            record("large PUT", response.status, response.read(), expected=(200, 201, 204))
            conn.request("GET", target(url), headers=sign("GET", url, unsigned=True))
            response = conn.getresponse()
            got = 0
            while True:
                chunk = response.read(MB)
                if not chunk:
                    break
                got += len(chunk)
            record("large GET", 200 if (response.status == 200 and got == size) else response.status, b"")
        finally:
            conn.close()
        stop.wait(60)

    return once


def refused_worker():
    conn = Connection()
    wrong = client(secret=SECRET_KEY + "x")
    unknown = client(access="AKIASOAKUNKNOWN00000")
    expired = presign("GET", "small.bin", expires=1)
    time.sleep(2)

    def once():
        for url in (
            presign("GET", "small.bin", c=wrong),
            presign("GET", "small.bin", c=unknown),
        ):
            status, data = conn.request("GET", url)
            with lock:
                refusals[(status, code_of(data))] += 1
            if status != 403:
                record("refusal", status, data, expected=(403,))
        # Expired: valid for one second, made when the worker started.
        status, data = conn.request("GET", expired)
        with lock:
            refusals[(status, code_of(data))] += 1
        if status != 403:
            record("refusal", status, data, expected=(403,))

    return once


def churn_worker():
    url = presign("GET", "small.bin")
    head = f"GET {target(url)} HTTP/1.1\r\nHost: {HOST}:{PORT}\r\n\r\n".encode()
    step = [0]

    def once():
        step[0] += 1
        s = socket.create_connection((HOST, PORT), timeout=10)
        try:
            if step[0] % 3 == 1:
                pass  # opened and closed at once
            elif step[0] % 3 == 2:
                s.sendall(head[: len(head) // 2])  # cut in the middle of the head
            else:
                s.sendall(head)  # a full request, its answer never read
        finally:
            s.close()
        with lock:
            served["connection opened and dropped"] += 1
        stop.wait(0.05)

    return once


# MARK: - sampling and the report

def sample():
    status = open(f"/proc/{sidecar_pid}/status").read()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    fds = len(os.listdir(f"/proc/{sidecar_pid}/fd"))
    return rss, fds


def main():
    # Seed objects.
    c = client()
    c.put_object(Bucket=BUCKET, Key="small.bin", Body=os.urandom(1024))
    threads = [
        loop("presigned small GET", small_get_worker()),
        loop("presigned small GET", small_get_worker()),
        loop("signed small PUT", small_put_worker(), pause=0.01),
        loop("presigned round trip", presigned_round_trip_worker(), pause=0.05),
        loop("large", large_worker()),
        loop("refusal", refused_worker(), pause=0.2),
        loop("churn", churn_worker()),
    ]
    samples = []
    started = time.time()
    for t in threads:
        t.start()
    end = started + minutes * 60
    interval = min(60.0, max(5.0, minutes * 60 / 8))
    while time.time() < end:
        stop.wait(min(interval, max(0.0, end - time.time())))
        rss, fds = sample()
        with lock:
            total = sum(served.values())
            errors = sum(outcomes.values())
        samples.append((time.time() - started, rss, fds, total, errors))
        print(f"t={samples[-1][0]:7.0f}s  rss={rss / 1024:7.1f} MiB  fds={fds:4d}  served={total:9d}  errors={errors}",
              flush=True)
    stop.set()
    for t in threads:
        t.join(130)

    elapsed = time.time() - started
    print("\n## served (as expected)")
    for kind, n in sorted(served.items()):
        print(f"  {kind:32s} {n:9d}  ({n / elapsed:8.1f}/s)")
    print("\n## deliberate refusals (status, S3 code)")
    for (status, code), n in sorted(refusals.items(), key=str):
        print(f"  {status} {code}: {n}")
    print("\n## errors (anything else)")
    if not outcomes:
        print("  none")
    for (kind, status, code), n in sorted(outcomes.items(), key=str):
        print(f"  {kind}: {status} {code}: {n}")
    quarter = max(1, len(samples) // 4)
    first, last = samples[:quarter], samples[-quarter:]
    mean = lambda rows, i: sum(r[i] for r in rows) / len(rows)
    rss_drift = (mean(last, 1) - mean(first, 1)) / mean(first, 1) * 100
    print("\n## drift, first quarter vs last quarter of the samples")
    print(f"  RSS  {mean(first, 1) / 1024:.1f} -> {mean(last, 1) / 1024:.1f} MiB  ({rss_drift:+.1f} %, target within 10 %)")
    print(f"  fds  {mean(first, 2):.1f} -> {mean(last, 2):.1f}  (target: flat)")
    print(f"  duration {elapsed / 60:.1f} min, {sum(served.values())} requests served, {sum(outcomes.values())} errors")
    sys.exit(1 if outcomes or abs(rss_drift) > 10 else 0)


if __name__ == "__main__":
    main()
