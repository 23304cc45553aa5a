"""Direct-to-storage uploads in a real browser: headless Chromium, driven by Selenium, loads the example
pages from their app server (deploy/examples/app_server.py) and uploads through the sidecar to moto: with
JavaScript and a presigned PUT (upload.html), and with a plain HTML form, S3 POST Object (form-upload.html).

Needs Debian's `chromium` and `chromium-driver` and Selenium from PyPI (.ci/run installs them). Without
them the test skips, except in CI (CI set), where it fails.
"""
import hashlib
import json
import os
import shutil
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

import e2e_support as e2e

try:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as ChromeService
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
except ImportError:  # reported below
    webdriver = None

REPO = Path(__file__).resolve().parents[2]
APP_SERVER = REPO / "deploy" / "examples" / "app_server.py"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
API_KEY = "browser-e2e-api-key-0123456789"
BIG = 200 * 1024 * 1024 + 12345  # at least 200 MiB, and not a round number
FORM_FILE = 100 * 1024 * 1024 + 4321  # the form upload: 100 MiB and change
FORM_MAX = FORM_FILE + 1000
SMALL_FORM_MAX = 1024 * 1024

missing = [name for name, ok in (("chromium", CHROMIUM), ("chromedriver", CHROMEDRIVER), ("selenium", webdriver)) if not ok]
if missing:
    if os.environ.get("CI"):
        pytest.fail(f"the browser test needs {', '.join(missing)} in CI", pytrace=False)
    pytest.skip(f"no {', '.join(missing)}: the browser test needs them", allow_module_level=True)


@pytest.fixture(scope="module")
def browser_bucket(moto_s3):
    name = f"browser-{uuid.uuid4().hex[:12]}"
    moto_s3.create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="module")
def stack(sidecar_bin, moto, workdir, browser_bucket):
    """The sidecar (CORS allowing only the first app server's origin), and two app servers serving the
    example page: one from the allowed origin, one from another."""
    creds = workdir / "browser-creds.json"
    creds.write_text(json.dumps({
        "keys": [{"accessKeyId": e2e.ACCESS_KEY, "secretAccessKey": e2e.SECRET_KEY}],
        "apiKeys": [{"apiKey": API_KEY, "accessKeyId": e2e.ACCESS_KEY}],
    }))
    allowed_port = e2e.free_port()
    services = []
    try:
        sidecar = e2e.start_service(
            "s3-sidecar (browser)",
            lambda port: [
                sidecar_bin, "serve", "--listen", f"127.0.0.1:{port}", "--upstream", moto.url,
                "--region", e2e.REGION, "--credentials", str(creds),
                "--cors-origin", f"http://127.0.0.1:{allowed_port}",
            ],
            str(workdir / "sidecar-browser.log"),
            ready_timeout=30,
        )
        services.append(sidecar)
        env = {**os.environ, "S3_SIDECAR_API_KEY": API_KEY}

        def app(port, label):
            service = e2e.Service(
                f"app server ({label})",
                [sys.executable, str(APP_SERVER), "--sidecar", sidecar.url, "--bucket", browser_bucket,
                 "--listen", f"127.0.0.1:{port}"],
                str(workdir / f"app-{label}.log"), port, env=env,
            )
            services.append(service)
            e2e.wait_for_port(port, service.proc, 30, service.log_path)
            return service

        allowed = app(allowed_port, "allowed")
        other = app(e2e.free_port(), "other-origin")
        yield {"sidecar": sidecar, "allowed": allowed, "other": other}
    finally:
        for service in services:
            service.stop()


@pytest.fixture(scope="module")
def driver():
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    browser = webdriver.Chrome(service=ChromeService(executable_path=CHROMEDRIVER), options=options)
    browser.set_script_timeout(120)
    yield browser
    browser.quit()


def random_file(path, size):
    """Writes `size` random bytes to `path`; returns their SHA-256."""
    digest = hashlib.sha256()
    block = os.urandom(1024 * 1024)
    with open(path, "wb") as f:
        written = 0
        counter = 0
        while written < size:
            # Every MiB differs, so a misplaced chunk changes the hash.
            chunk = (counter.to_bytes(8, "big") + block[8:])[: size - written]
            f.write(chunk)
            digest.update(chunk)
            written += len(chunk)
            counter += 1
    return digest.hexdigest()


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A file of random bytes over 200 MiB, and its SHA-256."""
    path = tmp_path_factory.mktemp("browser") / "big-upload.bin"
    return path, random_file(path, BIG)


def sha256_of_object(client, bucket, key):
    body = client.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


def upload_with_the_page(driver, page_url, path, timeout):
    driver.get(page_url)
    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "upload").click()
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-state") in ("done", "error")
    )
    return driver.find_element(By.TAG_NAME, "body").get_attribute("data-state")


def test_page_uploads_200_mib_through_the_sidecar_byte_identical(stack, driver, big_file, moto_s3, browser_bucket):
    path, expected = big_file
    state = upload_with_the_page(driver, stack["allowed"].url + "/", path, timeout=110)
    error = driver.find_element(By.ID, "error").text
    assert state == "done", error
    # The object is there the moment the PUT has returned: no extra step.
    assert sha256_of_object(moto_s3, browser_bucket, path.name) == expected
    assert driver.find_element(By.ID, "progress").get_attribute("value") == "100"

    link = driver.find_element(By.ID, "download-link").get_attribute("href")
    assert link.startswith(stack["sidecar"].url + f"/{browser_bucket}/{path.name}?")
    digest = hashlib.sha256()
    with urllib.request.urlopen(link, timeout=60) as response:
        for chunk in iter(lambda: response.read(1 << 20), b""):
            digest.update(chunk)
    assert digest.hexdigest() == expected


def test_wrong_content_type_is_refused_in_the_page_and_nothing_is_stored(stack, driver, moto_s3, browser_bucket):
    driver.get(stack["allowed"].url + "/")
    message = driver.execute_async_script(
        """
        const done = arguments[arguments.length - 1];
        presign("wrong-type.pdf", "upload", "application/pdf")
          .then((data) => putFile(data.url, new Blob(["not a pdf"]), "text/plain", () => {}))
          .then(() => done("stored"), (error) => done(error.message));
        """
    )
    # CORS headers are on the error too, so the page can read S3's reason, naming the expected type.
    assert message.startswith("SignatureDoesNotMatch"), message
    assert "application/pdf" in message
    assert "wrong-type.pdf" not in e2e.object_keys(moto_s3, browser_bucket)


def test_page_from_a_disallowed_origin_is_blocked_by_cors(stack, driver, moto_s3, browser_bucket, tmp_path):
    path = tmp_path / "blocked.bin"
    path.write_bytes(os.urandom(256 * 1024))
    state = upload_with_the_page(driver, stack["other"].url + "/", path, timeout=60)
    assert state == "error"
    assert "network error" in driver.find_element(By.ID, "error").text
    assert "blocked.bin" not in e2e.object_keys(moto_s3, browser_bucket)


# MARK: - the plain HTML form (S3 POST Object)


@pytest.fixture(scope="module")
def form_apps(stack, workdir, browser_bucket):
    """Two app servers minting forms through the sidecar's API: one for files up to FORM_MAX bytes, one for
    files up to 1 MiB."""
    env = {**os.environ, "S3_SIDECAR_API_KEY": API_KEY}
    services = {}
    try:
        apps = (("form", "form-uploads/", FORM_MAX), ("small-form", "small-form/", SMALL_FORM_MAX))
        for label, prefix, limit in apps:
            port = e2e.free_port()
            services[label] = e2e.Service(
                f"app server ({label})",
                [sys.executable, str(APP_SERVER), "--sidecar", stack["sidecar"].url, "--bucket", browser_bucket,
                 "--listen", f"127.0.0.1:{port}", "--form-prefix", prefix, "--form-max-size", str(limit)],
                str(workdir / f"app-{label}.log"), port, env=env,
            )
            e2e.wait_for_port(port, services[label].proc, 30, services[label].log_path)
        yield services
    finally:
        for service in services.values():
            service.stop()


def submit_the_form(driver, page_url, path, timeout):
    """Loads the form page, chooses the file and submits; returns once the browser has left the form (on
    the app's result page, or on the sidecar's error)."""
    driver.get(page_url)
    form_action = driver.find_element(By.ID, "upload-form").get_attribute("action")
    driver.find_element(By.ID, "file").send_keys(str(path))
    driver.find_element(By.ID, "upload").click()
    WebDriverWait(driver, timeout, poll_frequency=0.2).until(
        lambda d: not d.find_elements(By.ID, "upload-form")
        and d.execute_script("return document.readyState") == "complete"
    )
    return form_action


def test_form_page_posts_100_mib_through_the_sidecar_byte_identical(
    stack, form_apps, driver, moto_s3, browser_bucket, tmp_path
):
    path = tmp_path / "form big upload.bin"
    expected = random_file(path, FORM_FILE)
    app = form_apps["form"]
    action = submit_the_form(driver, app.url + "/form", path, timeout=110)
    # The form posted to the sidecar, not to the app server.
    assert action == f"{stack['sidecar'].url}/{browser_bucket}"
    # The sidecar redirected the browser back to the app's result page, with the key the file got.
    assert driver.current_url.startswith(app.url + "/uploaded?"), driver.page_source[:2000]
    key = driver.find_element(By.ID, "key").text
    assert key == "form-uploads/form big upload.bin"
    assert driver.find_element(By.ID, "bucket").text == browser_bucket
    assert driver.find_element(By.ID, "etag").text.strip('"')
    assert sha256_of_object(moto_s3, browser_bucket, key) == expected


def test_form_page_refuses_a_file_over_max_size_and_stores_nothing(
    form_apps, driver, moto_s3, browser_bucket, tmp_path
):
    path = tmp_path / "too-big.bin"
    random_file(path, SMALL_FORM_MAX + 1)
    submit_the_form(driver, form_apps["small-form"].url + "/form", path, timeout=60)
    assert "/uploaded" not in driver.current_url
    # The browser shows S3's error document, as S3 would answer.
    source = driver.page_source
    assert "EntityTooLarge" in source, source[:2000]
    assert str(SMALL_FORM_MAX) in source
    assert not [k for k in e2e.object_keys(moto_s3, browser_bucket) if k.startswith("small-form/")]
