"""Browser form uploads (S3 POST Object) through the sidecar: forms minted by boto3's
`generate_presigned_post` against the sidecar's endpoint, posted with `requests` (as a browser would:
fields first, the file last), in every upstream mode. What moto stored is checked byte for byte; every
refused form must leave nothing behind."""
import json
import os
import shutil
import subprocess
import time
import uuid

import pytest
import requests
from urllib3.filepost import encode_multipart_formdata

import e2e_support as e2e

MODES = ["passthrough", "resign", "trusted"]


def presigned_post(sidecar, bucket, key, fields=None, conditions=None, expires=300):
    client = e2e.s3_client(sidecar.url)
    return client.generate_presigned_post(
        bucket, key, Fields=fields, Conditions=conditions, ExpiresIn=expires
    )


def post(form, content, filename="photo.jpg", extra=None, timeout=e2e.IO_TIMEOUT):
    fields = dict(form["fields"])
    fields.update(extra or {})
    return requests.post(
        form["url"], data=fields, files={"file": (filename, content)}, allow_redirects=False, timeout=timeout
    )


def post_raw(url, ordered_fields, chunked=False):
    """Posts a form with its parts in exactly this order ([(name, value or (filename, bytes))])."""
    body, content_type = encode_multipart_formdata(ordered_fields)
    data = (body[i : i + 65536] for i in range(0, len(body), 65536)) if chunked else body
    return requests.post(url, data=data, headers={"Content-Type": content_type}, allow_redirects=False,
                         timeout=e2e.IO_TIMEOUT)


def stored(moto_s3, bucket, key):
    return moto_s3.get_object(Bucket=bucket, Key=key)


def assert_refused(response, status, code, moto_s3, bucket):
    assert response.status_code == status, response.text
    assert e2e.s3_error_code(response.content) == code, response.text
    assert e2e.object_keys(moto_s3, bucket) == [], "a refused form stored an object"


@pytest.mark.parametrize("mode", MODES)
def test_presigned_post_round_trip_stores_the_file_byte_for_byte(sidecars, moto_s3, bucket, mode):
    sidecar = sidecars(mode)
    content = os.urandom(200_000) + b"\r\n--not-the-boundary\r\n"
    form = presigned_post(
        sidecar, bucket, "uploads/${filename}",
        fields={"Content-Type": "image/jpeg", "x-amz-meta-owner": "ann"},
        conditions=[
            ["starts-with", "$key", "uploads/"],
            {"Content-Type": "image/jpeg"},
            ["eq", "$x-amz-meta-owner", "ann"],
            ["content-length-range", 1, 1_000_000],
        ],
    )
    assert form["url"] == f"{sidecar.url}/{bucket}"
    response = post(form, content, filename="cat.jpg")
    assert response.status_code == 204, response.text
    assert response.headers.get("ETag")
    obj = stored(moto_s3, bucket, "uploads/cat.jpg")
    assert obj["Body"].read() == content
    assert obj["ContentType"] == "image/jpeg"
    assert obj["Metadata"] == {"owner": "ann"}
    assert obj["ETag"] == response.headers["ETag"]


def test_a_chunked_form_is_streamed_upstream_chunked(sidecars, moto_s3, bucket):
    form = presigned_post(sidecars("trusted"), bucket, "chunked.bin")
    content = os.urandom(300_000)
    ordered = list(form["fields"].items()) + [("file", ("c.bin", content))]
    response = post_raw(form["url"], ordered, chunked=True)
    assert response.status_code == 204, response.text
    assert stored(moto_s3, bucket, "chunked.bin")["Body"].read() == content


def test_default_content_type_is_binary_octet_stream(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "plain")
    assert post(form, b"x").status_code == 204
    assert stored(moto_s3, bucket, "plain")["ContentType"] == "binary/octet-stream"


def test_success_action_status_201_returns_post_response_xml(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "k201", fields={"success_action_status": "201"},
                          conditions=[{"success_action_status": "201"}])
    response = post(form, b"hello")
    assert response.status_code == 201, response.text
    assert f"<Bucket>{bucket}</Bucket><Key>k201</Key>" in response.text
    assert "<ETag>" in response.text and "<Location>" in response.text


def test_success_action_status_200_is_empty(sidecar, bucket):
    form = presigned_post(sidecar, bucket, "k200", fields={"success_action_status": "200"},
                          conditions=[{"success_action_status": "200"}])
    response = post(form, b"hello")
    assert response.status_code == 200 and response.content == b""


def test_success_action_redirect_is_a_303_with_bucket_key_and_etag(sidecar, moto_s3, bucket):
    target = "https://app.example/done"
    form = presigned_post(sidecar, bucket, "r/k", fields={"success_action_redirect": target},
                          conditions=[["starts-with", "$success_action_redirect", "https://app.example/"]])
    response = post(form, b"hello")
    assert response.status_code == 303, response.text
    location = response.headers["Location"]
    assert location.startswith(target + f"?bucket={bucket}&key=r%2Fk&etag=%22")
    assert stored(moto_s3, bucket, "r/k")["Body"].read() == b"hello"


def test_curl_form_with_expect_100_continue(sidecar, moto_s3, bucket, tmp_path):
    """curl -F sends `Expect: 100-continue` for a large body: the sidecar must ask for the body itself."""
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed")
    form = presigned_post(sidecar, bucket, "curl/${filename}")
    path = tmp_path / "blob.bin"
    content = os.urandom(3 << 20)
    path.write_bytes(content)
    argv = ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", "Expect: 100-continue"]
    for name, value in form["fields"].items():
        argv += ["--form-string", f"{name}={value}"]
    argv += ["-F", f"file=@{path}", form["url"]]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=e2e.IO_TIMEOUT)
    assert result.stdout == "204", result.stderr
    assert stored(moto_s3, bucket, "curl/blob.bin")["Body"].read() == content


# MARK: - conditions


@pytest.mark.parametrize(
    "fields, conditions, extra, ok",
    [
        ({"acl": "private"}, [{"acl": "private"}], {}, True),
        ({"acl": "private"}, [{"acl": "private"}], {"acl": "public-read"}, False),
        ({"acl": "private"}, [["eq", "$acl", "private"]], {}, True),
        ({"acl": "private"}, [["eq", "$acl", "private"]], {"acl": "public-read"}, False),
        ({"Content-Type": "image/png"}, [["starts-with", "$Content-Type", "image/"]], {}, True),
        ({"Content-Type": "image/png"}, [["starts-with", "$Content-Type", "image/"]], {"Content-Type": "text/html"},
         False),
        ({"x-amz-meta-tag": "anything"}, [["starts-with", "$x-amz-meta-tag", ""]], {}, True),
    ],
    ids=["exact-pass", "exact-fail", "eq-pass", "eq-fail", "starts-with-pass", "starts-with-fail", "empty-prefix"],
)
def test_condition_types(sidecar, moto_s3, bucket, fields, conditions, extra, ok):
    form = presigned_post(sidecar, bucket, "cond", fields=fields, conditions=conditions)
    response = post(form, b"data", extra=extra)
    if ok:
        assert response.status_code == 204, response.text
        assert stored(moto_s3, bucket, "cond")["Body"].read() == b"data"
    else:
        assert_refused(response, 403, "AccessDenied", moto_s3, bucket)
        assert "Invalid according to Policy: Policy Condition failed:" in response.text


def test_key_outside_the_starts_with_prefix_is_refused(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "uploads/${filename}", conditions=[["starts-with", "$key", "uploads/"]])
    response = post(form, b"data", extra={"key": "other/evil"})
    assert_refused(response, 403, "AccessDenied", moto_s3, bucket)


def test_bucket_condition_binds_the_bucket(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "k")
    other = f"e2e-{uuid.uuid4().hex[:16]}"
    moto_s3.create_bucket(Bucket=other)
    response = requests.post(f"{sidecar.url}/{other}", data=form["fields"], files={"file": ("a", b"x")},
                             timeout=e2e.IO_TIMEOUT)
    assert_refused(response, 403, "AccessDenied", moto_s3, other)


@pytest.mark.parametrize("mode", MODES)
def test_oversize_and_undersize_files_are_refused(sidecars, moto_s3, bucket, mode):
    form = presigned_post(sidecars(mode), bucket, "sized", conditions=[["content-length-range", 10, 100]])
    assert_refused(post(form, b"x" * 101), 400, "EntityTooLarge", moto_s3, bucket)
    assert_refused(post(form, b"x" * 9), 400, "EntityTooSmall", moto_s3, bucket)
    assert post(form, b"x" * 100).status_code == 204


def test_oversize_chunked_upload_is_aborted_mid_stream(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "big", conditions=[["content-length-range", 0, 1_000_000]])
    ordered = list(form["fields"].items()) + [("file", ("b", b"y" * 3_000_000))]
    response = post_raw(form["url"], ordered, chunked=True)
    assert_refused(response, 400, "EntityTooLarge", moto_s3, bucket)


def test_a_field_not_covered_by_the_policy_is_refused(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "k")
    response = post(form, b"data", extra={"x-amz-meta-sneaky": "1"})
    assert_refused(response, 403, "AccessDenied", moto_s3, bucket)
    assert "Extra input fields: x-amz-meta-sneaky" in response.text
    # x-ignore-* fields need no condition.
    assert post(form, b"data", extra={"x-ignore-me": "1"}).status_code == 204


def test_an_expired_policy_is_refused(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "k", expires=1)
    time.sleep(2.1)
    response = post(form, b"data")
    assert_refused(response, 403, "AccessDenied", moto_s3, bucket)
    assert "Invalid according to Policy: Policy expired" in response.text


def test_a_forged_signature_is_refused(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "k")
    signature = form["fields"]["x-amz-signature"]
    forged = ("0" if signature[0] != "0" else "1") + signature[1:]
    response = post(form, b"data", extra={"x-amz-signature": forged})
    assert_refused(response, 403, "SignatureDoesNotMatch", moto_s3, bucket)


def test_a_wrong_secret_is_refused(sidecar, moto_s3, bucket):
    client = e2e.s3_client(sidecar.url, secret_key=e2e.WRONG_SECRET_KEY)
    form = client.generate_presigned_post(bucket, "k")
    assert_refused(post(form, b"data"), 403, "SignatureDoesNotMatch", moto_s3, bucket)


def test_a_file_before_the_fields_is_refused(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "k")
    ordered = [("file", ("a.txt", b"data"))] + list(form["fields"].items())
    response = post_raw(form["url"], ordered)
    assert_refused(response, 400, "InvalidArgument", moto_s3, bucket)


def test_a_form_without_a_file_is_refused(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "k")
    response = post_raw(form["url"], list(form["fields"].items()))
    assert_refused(response, 400, "InvalidArgument", moto_s3, bucket)


def test_fields_beyond_20_kb_are_refused(sidecar, moto_s3, bucket):
    form = presigned_post(sidecar, bucket, "k")
    ordered = [("x-ignore-pad", "p" * 25_000)] + list(form["fields"].items()) + [("file", ("a", b"x"))]
    response = post_raw(form["url"], ordered)
    assert_refused(response, 400, "MalformedPOSTRequest", moto_s3, bucket)


def test_a_100_mb_file_streams_through(sidecars, moto_s3, bucket, record_property):
    sidecar = sidecars("passthrough")
    form = presigned_post(sidecar, bucket, "large.bin", conditions=[["content-length-range", 0, 200 << 20]])
    content = os.urandom(1 << 20) * 100
    response = post(form, content, timeout=120)
    assert response.status_code == 204, response.text
    obj = stored(moto_s3, bucket, "large.bin")
    assert obj["ContentLength"] == len(content)
    assert obj["Body"].read() == content
    # Reported, not asserted: the sidecar's peak resident memory after streaming 100 MB.
    try:
        with open(f"/proc/{sidecar.proc.pid}/status") as status:
            peak = next(line for line in status if line.startswith("VmHWM"))
        record_property("sidecar_vmhwm", peak.split(":", 1)[1].strip())
        print(f"sidecar peak RSS after a 100 MB form upload: {peak.split(':', 1)[1].strip()}")
    except (OSError, StopIteration):
        pass


# MARK: - the key's policy, and a backend that checks the upstream PUT's signature


LIMITED = ("AKIAE2EFORMLIMITED01", "form/Limited+Secret=")


@pytest.fixture(scope="module")
def limited_sidecar(sidecar_bin, moto, tmp_path_factory):
    directory = tmp_path_factory.mktemp("post-policy")
    creds = directory / "creds.json"
    creds.write_text(json.dumps({"keys": [
        {"accessKeyId": LIMITED[0], "secretAccessKey": LIMITED[1], "allow": [
            {"bucket": "*", "prefix": "public/", "actions": ["write"]},
        ]},
    ]}))
    service = e2e.start_service(
        "s3-sidecar (form policies)",
        lambda port: [
            sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url, "--mode", "passthrough",
            "--region", e2e.REGION, "--credentials", str(creds),
        ],
        str(directory / "sidecar.log"),
        ready_timeout=30,
    )
    yield service
    service.stop()


def test_the_keys_allow_policy_applies_to_the_forms_key(limited_sidecar, moto_s3, bucket):
    client = e2e.s3_client(limited_sidecar.url, access_key=LIMITED[0], secret_key=LIMITED[1])
    denied = client.generate_presigned_post(bucket, "private/x")
    response = post(denied, b"data")
    assert_refused(response, 403, "AccessDenied", moto_s3, bucket)
    assert e2e.s3_error_message(response.content) == "Access Denied"
    allowed = client.generate_presigned_post(bucket, "public/${filename}")
    assert post(allowed, b"data", filename="ok.txt").status_code == 204
    assert stored(moto_s3, bucket, "public/ok.txt")["Body"].read() == b"data"


@pytest.fixture(scope="module")
def chained_sidecar(sidecar_bin, sidecars, credentials_file, tmp_path_factory):
    """A passthrough sidecar whose upstream is another passthrough sidecar: the inner one checks the
    SigV4 signature of the PUT the outer one makes from a form, as a signature-checking backend would."""
    from conftest import Sidecars

    inner = sidecars("passthrough")
    pool = Sidecars(sidecar_bin, inner.url, credentials_file, tmp_path_factory.mktemp("chain"), label="chain")
    yield pool("passthrough")
    pool.stop()


def test_passthrough_signs_the_upstream_put_so_a_checking_backend_accepts_it(chained_sidecar, moto_s3, bucket):
    form = presigned_post(chained_sidecar, bucket, "chain.bin", fields={"Content-Type": "text/plain"},
                          conditions=[{"Content-Type": "text/plain"}])
    content = os.urandom(70_000)
    response = post(form, content)
    assert response.status_code == 204, response.text
    obj = stored(moto_s3, bucket, "chain.bin")
    assert obj["Body"].read() == content
    assert obj["ContentType"] == "text/plain"


# MARK: - the example page


def test_the_example_form_page_uploads_when_filled_in(sidecar, moto_s3, bucket):
    """deploy/examples/form-upload.html, filled in as its comment says and submitted the way a browser
    submits it: every input in document order, the file last."""
    from html.parser import HTMLParser

    redirect = "https://app.example.com/uploaded"
    form = presigned_post(
        sidecar, bucket, "page/${filename}",
        fields={"Content-Type": "text/plain", "success_action_redirect": redirect},
        conditions=[
            ["starts-with", "$key", "page/"],
            {"Content-Type": "text/plain"},
            ["starts-with", "$success_action_redirect", "https://app.example.com/"],
        ],
    )
    from html import escape

    hidden = "\n".join(
        f'    <input type="hidden" name="{escape(name)}" value="{escape(value)}">' for name, value in form["fields"].items()
    )
    values = {"url": escape(form["url"]), "fields": hidden, "max_size": "1 MB"}
    page = (e2e_root() / "deploy" / "examples" / "form-upload.html").read_text()
    for name, value in values.items():
        page = page.replace("{{" + name + "}}", value)
    assert "{{" not in page.split("-->", 1)[1], "a placeholder was left unfilled"

    class Form(HTMLParser):
        action = None
        inputs = []

        def handle_starttag(self, tag, attrs):
            attrs = dict(attrs)
            if tag == "form":
                Form.action = attrs["action"]
                assert attrs["enctype"] == "multipart/form-data" and attrs["method"] == "post"
            elif tag == "input":
                Form.inputs.append((attrs["type"], attrs["name"], attrs.get("value")))

    Form().feed(page)
    assert Form.inputs[-1][:2] == ("file", "file")
    ordered = [(name, value) for kind, name, value in Form.inputs if kind == "hidden"]
    ordered.append(("file", ("notes.txt", b"typed in a browser")))
    response = post_raw(Form.action, ordered)
    assert response.status_code == 303, response.text
    assert response.headers["Location"].startswith(f"{redirect}?bucket={bucket}&key=page%2Fnotes.txt&etag=")
    assert stored(moto_s3, bucket, "page/notes.txt")["Body"].read() == b"typed in a browser"


def e2e_root():
    from pathlib import Path

    return Path(__file__).resolve().parents[2]
