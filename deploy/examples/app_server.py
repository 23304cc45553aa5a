#!/usr/bin/env python3
"""A minimal application server for the upload examples, standard library only.

- `/` serves upload.html and answers its POST /presign by asking the sidecar's presign API, adding the
  API key, which therefore never reaches the browser.
- `/form` serves form-upload.html, a plain HTML form (no JavaScript) filled with a POST form it mints
  through the same API ("action": "post": any file name under --form-prefix, at most --form-max-size
  bytes); the browser posts the file to the sidecar, which redirects it back to `/uploaded`, a page
  showing the result.

A real application would also decide here who may upload what (its own users and sessions) before asking.

    python3 app_server.py --sidecar http://127.0.0.1:8080 --bucket uploads --listen 127.0.0.1:8000
    # with the API key in S3_SIDECAR_API_KEY; the sidecar runs with --cors-origin http://127.0.0.1:8000
    # (the form at /form needs no CORS)
"""
import argparse
import html
import http.server
import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PAGE = Path(__file__).with_name("upload.html")
FORM_PAGE = Path(__file__).with_name("form-upload.html")
MAX_BODY = 64 * 1024

RESULT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Uploaded</title></head>
<body data-state="done"><h1>Uploaded</h1>
<dl><dt>Bucket</dt><dd id="bucket">{bucket}</dd><dt>Key</dt><dd id="key">{key}</dd>
<dt>ETag</dt><dd id="etag">{etag}</dd></dl>
<p><a href="/form">Upload another file</a></p></body></html>
"""


def make_handler(sidecar, bucket, api_key, form_prefix="uploads/", form_max_size=None):
    presign_url = f"{sidecar.rstrip('/')}/api/object-storage/buckets/{bucket}/presign"

    def ask_sidecar(body):
        """(status, reply bytes) of one presign API call, with the API key added."""
        upstream = urllib.request.Request(
            presign_url,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "X-API-Key": api_key},
            method="POST",
        )
        try:
            with urllib.request.urlopen(upstream, timeout=30) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError as error:
            return 502, json.dumps({"success": False, "code": "BAD_GATEWAY", "message": str(error)}).encode()

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):
            path, _, query = self.path.partition("?")
            if path == "/form":
                return self.serve_form()
            if path == "/uploaded":
                return self.serve_result(urllib.parse.parse_qs(query))
            if path not in ("/", "/upload.html"):
                return self.reply(404, b"not found", "text/plain")
            self.reply(200, PAGE.read_bytes(), "text/html; charset=utf-8")

        def serve_form(self):
            # The browser comes back here after the upload: this server as the browser reached it.
            back = f"http://{self.headers.get('Host') or '%s:%d' % self.server.server_address[:2]}/uploaded"
            body = {"key": form_prefix, "keyPrefix": True, "action": "post", "successActionRedirect": back}
            if form_max_size:
                body["maxSize"] = form_max_size
            status, payload = ask_sidecar(body)
            if status != 200:
                return self.reply(502, b"could not mint a form: " + payload, "text/plain; charset=utf-8")
            data = json.loads(payload)["data"]
            hidden = "\n".join(
                f'    <input type="hidden" name="{html.escape(name)}" value="{html.escape(value)}">'
                for name, value in data["fields"].items()
            )
            limit = f"{form_max_size:,} bytes" if form_max_size else "5 GiB"
            page = FORM_PAGE.read_text()
            for name, value in (("url", html.escape(data["url"])), ("fields", hidden), ("max_size", limit)):
                page = page.replace("{{" + name + "}}", value)
            self.reply(200, page.encode(), "text/html; charset=utf-8")

        def serve_result(self, query):
            values = {name: html.escape(query.get(name, [""])[0]) for name in ("bucket", "key", "etag")}
            self.reply(200, RESULT_PAGE.format(**values).encode(), "text/html; charset=utf-8")

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
            status, payload = ask_sidecar(body)
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
    parser.add_argument("--form-prefix", default="uploads/", help="the key prefix of files posted with /form")
    parser.add_argument("--form-max-size", type=int, help="the largest file /form accepts, in bytes (default 5 GiB)")
    args = parser.parse_args()
    api_key = os.environ.get("S3_SIDECAR_API_KEY")
    if not api_key:
        parser.error("set S3_SIDECAR_API_KEY to the API key")
    host, port = args.listen.rsplit(":", 1)
    handler = make_handler(args.sidecar, args.bucket, api_key, args.form_prefix, args.form_max_size)
    server = http.server.ThreadingHTTPServer((host, int(port)), handler)
    print(f"app server on http://{host}:{server.server_address[1]}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
