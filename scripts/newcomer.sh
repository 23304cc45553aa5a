#!/usr/bin/env bash
# The newcomer test: runs the README's first command exactly as written (the first line of its first `sh`
# block), waits for the printed `export` lines, then runs the printed example commands: create a bucket,
# upload with the AWS CLI, fetch a presigned URL with curl, and see a tampered URL refused.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
first_command=$(awk '/^```sh$/ { inside = 1; next } inside { print; exit }' README.md | sed 's/[[:space:]]*#.*$//')
echo "README's first command: $first_command"

work=$(mktemp -d)
trap 'kill -- -"$pid" 2>/dev/null || kill "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
# Its own process group, so the whole `swift run` tree stops with it; ./data is the command's own default.
setsid bash -c "$first_command" >"$work/out" 2>"$work/err" &
pid=$!
for _ in $(seq 1 600); do
    grep -q '^s3-sidecar listening on' "$work/out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/err" >&2; echo "the sidecar exited" >&2; exit 1; }
    sleep 1
done
grep -q '^s3-sidecar listening on' "$work/out" || { echo "the sidecar did not start" >&2; exit 1; }
cat "$work/out"

eval "$(grep '^export AWS_' "$work/out")"
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_PAGER=
bucket="newcomer-$RANDOM$RANDOM"
aws s3 mb "s3://$bucket"
aws s3 cp ./README.md "s3://$bucket/README.md"
url=$(aws s3 presign "s3://$bucket/README.md" --expires-in 300)
curl -sf "$url" | cmp - README.md
code=$(curl -s -o /dev/null -w '%{http_code}' "${url/README.md/README.mD}")
[ "$code" = 403 ] || { echo "a tampered URL got $code, not 403" >&2; exit 1; }
echo "newcomer test: passed (upload, presigned download, tampered URL refused)"
