#!/usr/bin/env bash
# Soak test (issue 20): a mixed load against the sidecar (trusted mode) in front of the nginx WebDAV backend
# for SOAK_MINUTES (30 by default): presigned small GETs, signed small PUTs, presigned uploads and downloads,
# a large PUT and GET each minute, deliberate refusals, connections opened and dropped. Prints the sidecar's
# RSS and open descriptors each minute, requests served, errors by code (expected: none besides the
# deliberate refusals), and the drift between the first and the last quarter (target: RSS within 10 %,
# descriptors flat). Exits 1 when there were errors or the RSS drifted more than 10 %.
#
# usage: bench/soak.sh                       # 30 minutes
#        SOAK_MINUTES=5 bench/soak.sh        # a shorter run
# env:   S3_SIDECAR_BIN (default .build/release/s3-sidecar, built if missing), SOAK_MINUTES (30),
#        SOAK_LARGE_MIB (64, the size of the large transfer each minute), BENCH_TMPDIR
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"
MINUTES="${SOAK_MINUTES:-30}"
BENCH_NAME=soak
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

python3 -c 'import boto3' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check boto3
bench_require_nginx
bench_require_sidecar
bench_workdir 512
read -r PORT_BACKEND PORT_SIDECAR < <(bench_free_ports 2)
bench_start_backend "$WORK/backend" "$PORT_BACKEND" "$WORK/data"
mkdir -p "$WORK/data/soak"
export SOAK_ACCESS_KEY=AKIASOAKSIDECAR00001 SOAK_SECRET_KEY='soak/Secret+Key=With/Slash+Plus=='
bench_start_sidecar "$PORT_SIDECAR" "$PORT_BACKEND" trusted us-east-1 "$SOAK_ACCESS_KEY" "$SOAK_SECRET_KEY"
log "soak for $MINUTES min: sidecar pid $SIDECAR_PID on 127.0.0.1:$PORT_SIDECAR, backend 127.0.0.1:$PORT_BACKEND"
status=0
python3 "$REPO/bench/soak_load.py" "http://127.0.0.1:$PORT_SIDECAR" "$SIDECAR_PID" "$MINUTES" || status=$?
if grep -q -E ' (error|critical) |ERROR' "$WORK/sidecar.log"; then
    log "the sidecar logged errors:"
    grep -E ' (error|critical) |ERROR' "$WORK/sidecar.log" | tail -20 >&2
    status=1
fi
exit "$status"
