"""--trusted-proxy: from a trusted peer, X-Forwarded-Host and X-Forwarded-Prefix give the host and path the
client signed; from anyone else they change nothing. Loopback has a whole /8: the "proxy" connects from
127.0.0.2, a stranger from 127.0.0.1."""
import http.client
import json
from urllib.parse import urlsplit

import pytest

import e2e_support as e2e

PROXY_ADDRESS = "127.0.0.2"
PUBLIC_HOST = "s3.example.test"


@pytest.fixture(scope="module")
def proxied_sidecar(sidecar_bin, moto, tmp_path_factory):
    directory = tmp_path_factory.mktemp("trusted-proxy")
    creds = directory / "creds.json"
    creds.write_text(json.dumps({"keys": [{"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY}]}))
    service = e2e.start_service(
        "s3-sidecar (trusted proxy)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", str(creds), "--trusted-proxy", f"{PROXY_ADDRESS}/32",
            "--trusted-proxy", "10.0.0.0/8",
        ],
        str(directory / "sidecar.log"),
        ready_timeout=30,
    )
    yield service
    service.stop()


def send_from(source, sidecar, method, target, headers):
    """Sends a request from the local address `source` to the sidecar; returns (status, headers, body)."""
    conn = http.client.HTTPConnection("127.0.0.1", sidecar.port, timeout=e2e.IO_TIMEOUT, source_address=(source, 0))
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def signed_for_public_url(bucket, key):
    """Headers signed for https://s3.example.test/storage/<bucket>/<key>, as a client of the outer proxy."""
    public_url = f"https://{PUBLIC_HOST}/storage/{bucket}/{key}"
    headers = e2e.sign_headers("GET", public_url)
    # botocore signs the URL's host without adding a Host header; the sender sets the one it uses.
    assert "SignedHeaders=host;" in headers["authorization"]
    return headers


def test_the_forwarded_host_and_prefix_are_what_a_trusted_proxy_says(proxied_sidecar, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="doc.txt", Body=b"through the proxy")
    headers = signed_for_public_url(bucket, "doc.txt")
    # What the outer proxy sends on: its own Host, the prefix stripped, X-Forwarded-* describing the original.
    headers["host"] = f"127.0.0.1:{proxied_sidecar.port}"
    headers["x-forwarded-host"] = PUBLIC_HOST
    headers["x-forwarded-proto"] = "https"
    headers["x-forwarded-prefix"] = "/storage"
    status, _, body = send_from(PROXY_ADDRESS, proxied_sidecar, "GET", f"/{bucket}/doc.txt", headers)
    assert status == 200
    assert body == b"through the proxy"

    # The same request from a peer that is not a trusted proxy: the headers are ignored, the signature (made
    # for the public host and path) does not match the request as received.
    status, _, body = send_from("127.0.0.1", proxied_sidecar, "GET", f"/{bucket}/doc.txt", headers)
    assert status == 403
    assert e2e.s3_error_code(body) == "SignatureDoesNotMatch"


def test_a_spoofed_forwarded_host_from_an_untrusted_peer_changes_nothing(proxied_sidecar, moto_s3, bucket):
    moto_s3.put_object(Bucket=bucket, Key="direct.txt", Body=b"direct")
    url = e2e.object_url(proxied_sidecar.url, bucket, "direct.txt")
    headers = e2e.sign_headers("GET", url)
    headers["host"] = urlsplit(url).netloc
    headers["x-forwarded-host"] = "evil.example"
    headers["x-forwarded-prefix"] = "/elsewhere"
    status, _, body = send_from("127.0.0.1", proxied_sidecar, "GET", f"/{bucket}/direct.txt", headers)
    assert status == 200
    assert body == b"direct"
