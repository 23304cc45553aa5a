#!/usr/bin/env python3
"""A minimal application server for upload.html, standard library only.

It serves the page and answers the page's POST /presign by asking the sidecar's presign API, adding the
API key, which therefore never reaches the browser. A real application would also decide here who may
upload what (its own users and sessions) before asking.

    python3 app_server.py --sidecar http://127.0.0.1:8080 --bucket uploads --listen 127.0.0.1:8000
    # with the API key in S3_SIDECAR_API_KEY; the sidecar runs with --cors-origin http://127.0.0.1:8000
"""
import argparse
import http.server
import json
import os
import urllib.error
import urllib.request
from pathlib import Path

PAGE = Path(__file__).with_name("upload.html")
MAX_BODY = 64 * 1024


def make_handler(sidecar, bucket, api_key):
    presign_url = f"{sidecar.rstrip('/')}/api/object-storage/buckets/{bucket}/presign"

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            if self.path not in ("/", "/upload.html"):
                return self.reply(404, b"not found", "text/plain")
            self.reply(200, PAGE.read_bytes(), "text/html; charset=utf-8")

        def do_POST(self):
            if self.path != "/presign":
                return self.reply(404, b"not found", "text/plain")
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self.reply(413, b"too large", "text/plain")
            try:
                request = json.loads(self.rfile.read(length) or b"{}")
            except ValueError:
                return self.reply(400, b'{"success": false, "message": "bad JSON"}', "application/json")
            # Only what the page may ask for goes on; the application's own checks would sit here.
            body = {k: request[k] for k in ("key", "action", "contentType") if k in request}
            upstream = urllib.request.Request(
                presign_url,
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json", "X-API-Key": api_key},
                method="POST",
            )
            try:
                with urllib.request.urlopen(upstream, timeout=30) as response:
                    status, payload = response.status, response.read()
            except urllib.error.HTTPError as error:
                status, payload = error.code, error.read()
            except OSError as error:
                status = 502
                payload = json.dumps({"success": False, "code": "BAD_GATEWAY", "message": str(error)}).encode()
            self.reply(status, payload, "application/json")

        def reply(self, status, payload, content_type):
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args):
            pass

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sidecar", required=True, help="the sidecar's base URL as this server reaches it")
    parser.add_argument("--bucket", required=True)
    parser.add_argument("--listen", default="127.0.0.1:8000", help="host:port (port 0: any free port)")
    args = parser.parse_args()
    api_key = os.environ.get("S3_SIDECAR_API_KEY")
    if not api_key:
        parser.error("set S3_SIDECAR_API_KEY to the API key")
    host, port = args.listen.rsplit(":", 1)
    server = http.server.ThreadingHTTPServer((host, int(port)), make_handler(args.sidecar, args.bucket, api_key))
    print(f"app server on http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
