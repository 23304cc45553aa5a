"""The AWS CLI through the sidecar: `aws s3 cp` of a file big enough for multipart, up and down."""
import os
import shutil
import subprocess
import sys

import pytest

import e2e_support as e2e


def aws_cli(tmp_path):
    """argv prefix and an environment that shares nothing with the machine's AWS setup."""
    config = tmp_path / "aws-config"
    config.write_text(f"[default]\nregion = {e2e.REGION}\ns3 =\n    addressing_style = path\n")
    shared = tmp_path / "aws-credentials"
    shared.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        AWS_ACCESS_KEY_ID=e2e.ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY=e2e.SECRET_KEY,
        AWS_DEFAULT_REGION=e2e.REGION,
        AWS_CONFIG_FILE=str(config),
        AWS_SHARED_CREDENTIALS_FILE=str(shared),
        AWS_EC2_METADATA_DISABLED="true",
        AWS_MAX_ATTEMPTS="1",
        AWS_PAGER="",
    )
    executable = shutil.which("aws")
    argv = [executable] if executable else [sys.executable, "-m", "awscli"]
    return argv, env


def run(argv, env, timeout=90):
    result = subprocess.run(argv, env=env, capture_output=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, f"{argv} exited {result.returncode}\n{result.stdout.decode()}\n{result.stderr.decode()}"
    return result.stdout.decode()


@pytest.mark.parametrize("mode", ["passthrough", "resign"])
def test_aws_cli_cp_multipart_upload_and_download_round_trips_bytes(sidecars, moto_s3, bucket, tmp_path, mode):
    sidecar = sidecars(mode)
    aws, env = aws_cli(tmp_path)
    endpoint = ["--endpoint-url", sidecar.url]

    source = tmp_path / "big file é+.bin"
    data = os.urandom(9 * 1024 * 1024 + 12345)  # over 8 MB: two parts at the CLI's default 8 MiB chunk size
    source.write_bytes(data)
    key = "cli/big file é+.bin"

    run(aws + ["s3", "cp", str(source), f"s3://{bucket}/{key}", "--only-show-errors"] + endpoint, env)
    stored = moto_s3.head_object(Bucket=bucket, Key=key)
    assert stored["ContentLength"] == len(data)
    assert stored["ETag"].endswith('-2"'), f"expected a 2-part multipart upload, got ETag {stored['ETag']}"

    target = tmp_path / "down.bin"
    run(aws + ["s3", "cp", f"s3://{bucket}/{key}", str(target), "--only-show-errors"] + endpoint, env)
    assert target.read_bytes() == data

    listing = run(aws + ["s3", "ls", f"s3://{bucket}/cli/"] + endpoint, env)
    assert "big file é+.bin" in listing
    run(aws + ["s3", "rm", f"s3://{bucket}/{key}", "--only-show-errors"] + endpoint, env)
    assert e2e.object_keys(moto_s3, bucket) == []


def test_aws_cli_with_a_wrong_secret_fails_with_signature_does_not_match(sidecar, moto_s3, bucket, tmp_path):
    aws, env = aws_cli(tmp_path)
    env["AWS_SECRET_ACCESS_KEY"] = e2e.WRONG_SECRET_KEY
    source = tmp_path / "small.txt"
    source.write_bytes(b"never stored")
    result = subprocess.run(
        aws + ["s3", "cp", str(source), f"s3://{bucket}/small.txt", "--endpoint-url", sidecar.url],
        env=env, capture_output=True, timeout=90, stdin=subprocess.DEVNULL,
    )
    assert result.returncode != 0
    assert b"SignatureDoesNotMatch" in result.stderr, result.stderr.decode()
    assert e2e.object_keys(moto_s3, bucket) == []
