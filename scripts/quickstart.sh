#!/usr/bin/env bash
# Quick start: build the sidecar and run it on 127.0.0.1:8080 in front of a local development S3 backend
# (moto_server on 127.0.0.1:9000), with a generated key kept in ./data/creds.json across restarts.
# Ports: SIDECAR_PORT (8080), BACKEND_PORT (9000). Stop with Ctrl-C; the backend stops with it.
set -euo pipefail
cd "$(dirname "$0")/.."

SIDECAR_PORT="${SIDECAR_PORT:-8080}"
BACKEND_PORT="${BACKEND_PORT:-9000}"
REGION="${AWS_DEFAULT_REGION:-us-east-1}"
DATA_DIR="${DATA_DIR:-./data}"

command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
if ! python3 -c 'import moto.server, flask, flask_cors' >/dev/null 2>&1; then
    echo "installing moto[server] (the development backend) from PyPI" >&2
    python3 -m pip install --quiet --disable-pip-version-check 'moto[server]'
fi

echo "building s3-sidecar (release)…" >&2
swift build -c release --product s3-sidecar >&2

mkdir -p "$DATA_DIR"
if [ ! -s "$DATA_DIR/creds.json" ]; then
    python3 - "$DATA_DIR/creds.json" <<'PY'
import json, secrets, string, sys
alphabet = string.ascii_uppercase + string.digits
key = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
secret = secrets.token_urlsafe(30)[:40]
with open(sys.argv[1], "w") as f:
    json.dump({"keys": [{"accessKeyId": key, "secretAccessKey": secret}]}, f, indent=2)
PY
    chmod 600 "$DATA_DIR/creds.json"
fi
read -r KEY SECRET < <(python3 -c 'import json,sys; k=json.load(open(sys.argv[1]))["keys"][0]; print(k["accessKeyId"], k["secretAccessKey"])' "$DATA_DIR/creds.json")

python3 -m moto.server -H 127.0.0.1 -p "$BACKEND_PORT" >"$DATA_DIR/backend.log" 2>&1 &
BACKEND_PID=$!
trap 'kill "$BACKEND_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$BACKEND_PORT") 2>/dev/null && break
    sleep 0.1
done

cat <<MSG
export AWS_ACCESS_KEY_ID=$KEY
export AWS_SECRET_ACCESS_KEY=$SECRET
export AWS_ENDPOINT_URL=http://127.0.0.1:$SIDECAR_PORT
export AWS_DEFAULT_REGION=$REGION

# Paste the lines above into a shell, then for example:
#   aws s3 mb s3://demo && aws s3 cp ./README.md s3://demo/readme.md
#   curl -s "\$(aws s3 presign s3://demo/readme.md)"
# Backend (moto_server, development only): http://127.0.0.1:$BACKEND_PORT, log in $DATA_DIR/backend.log
MSG

.build/release/s3-sidecar serve \
    --listen "127.0.0.1:$SIDECAR_PORT" \
    --upstream "http://127.0.0.1:$BACKEND_PORT" \
    --mode passthrough \
    --region "$REGION" \
    --credentials "$DATA_DIR/creds.json"
