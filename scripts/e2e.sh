#!/usr/bin/env bash
# End-to-end tests: boto3, the AWS CLI and curl against the sidecar in front of moto_server, on loopback.
# Builds the release binary when it is missing or older than the sources, installs the Python test
# dependencies when they are missing, then runs Tests/e2e and exits with pytest's status.
#
# usage: scripts/e2e.sh [pytest args...]        e.g. scripts/e2e.sh -k negative -x
# env:   S3_SIDECAR_BIN   test this binary instead (nothing is built)
#        E2E_SCRATCH_PATH build into this scratch path instead of .build
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*" >&2; }

if ! command -v swift >/dev/null 2>&1; then
    export PATH="/opt/swift/usr/bin:$PATH"
fi

if [[ -z "${S3_SIDECAR_BIN:-}" ]]; then
    scratch="${E2E_SCRATCH_PATH:-.build}"
    binary="$scratch/release/s3-sidecar"
    # Stale means: some source, manifest or lock file is newer than the binary.
    if [[ ! -x "$binary" ]] || [[ -n "$(find Sources Package.swift Package.resolved -newer "$binary" -print -quit 2>/dev/null)" ]]; then
        log "build $binary"
        swift build --scratch-path "$scratch" -c release --product s3-sidecar
    fi
    S3_SIDECAR_BIN="$(cd "$(dirname "$binary")" && pwd)/$(basename "$binary")"
    export S3_SIDECAR_BIN
fi
log "sidecar binary: $S3_SIDECAR_BIN"

if ! python3 -c 'import boto3, botocore, moto, flask, flask_cors, pytest, requests, cryptography' >/dev/null 2>&1 \
    || ! command -v aws >/dev/null 2>&1; then
    log "python test dependencies"
    python3 -m pip install --quiet --disable-pip-version-check boto3 awscli 'moto[server]' pytest requests cryptography
fi
if ! command -v curl >/dev/null 2>&1; then
    log "curl missing: the curl tests will be skipped (apt-get install -y curl)"
fi

if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
    || ! python3 -c 'import selenium' >/dev/null 2>&1; then
    log "chromium, chromedriver or selenium missing: the browser test will be skipped" \
        "(apt-get install -y chromium chromium-driver; pip install selenium)"
fi

log "pytest Tests/e2e"
set +e
python3 -m pytest -q Tests/e2e "$@"
status=$?
set -e
exit "$status"
