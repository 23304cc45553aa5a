"""Shared by the scripts that sign S3 requests with boto3 for the tests: random credentials and text, and
a recorder that captures each request exactly as botocore would send it, then stops it there."""
import string
from urllib.parse import urlsplit

ENDPOINT = "http://s3.sidecar.test:9000"


class Captured(Exception):
    """Raised by the recorder's hook so that nothing is ever sent."""


def random_text(rng, alphabet, low, high):
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))


def random_credentials(rng):
    """An access key id and a secret with '/', '+' and '=' in it."""
    access_key = "AKIA" + "".join(rng.choice(string.ascii_uppercase + string.digits) for _ in range(16))
    secret = "".join(rng.choice(string.ascii_letters + string.digits + "/+=") for _ in range(40))
    return access_key, secret


def wire_target(url):
    parts = urlsplit(url)
    return parts.path + ("?" + parts.query if parts.query else "")


class Recorder:
    """Attach to a client with `recorder.attach(client)`; `recorder.call(client, "put_object", ...)` then
    records that request (method, target, headers as sent) instead of sending it."""

    def __init__(self):
        self.requests = []
        self._operation = ""

    def attach(self, client):
        client.meta.events.register("before-send.s3", self._capture)

    def call(self, client, operation, **kwargs):
        self._operation = operation
        try:
            getattr(client, operation)(**kwargs)
        except Captured:
            pass

    def add_presigned(self, operation, method, url, headers):
        self.requests.append({"operation": operation, "method": method, "uri": wire_target(url), "headers": headers})

    def _capture(self, request, **_):
        headers = [[k, v.decode() if isinstance(v, bytes) else v] for k, v in request.headers.items()]
        if not any(k.lower() == "host" for k, _ in headers):
            headers.insert(0, ["Host", urlsplit(request.url).netloc])  # what urllib3 adds on the wire
        self.requests.append({
            "operation": self._operation,
            "method": request.method,
            "uri": wire_target(request.url),
            "headers": headers,
        })
        raise Captured()
