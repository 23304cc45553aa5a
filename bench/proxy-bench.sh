#!/usr/bin/env bash
# Proxy benchmark, one run on loopback, three legs in front of the same backend:
#   (a) direct    straight to the backend (nginx serving a directory, WebDAV PUT enabled)
#   (b) nginx     through Debian's nginx proxy_pass, 1 MiB buffers; two variants, the better one counts:
#                 b1 streaming (proxy_request_buffering off, proxy_buffering off)
#                 b2 buffered  (proxy_request_buffering off, proxy_buffering on with 8 x 1 MiB buffers)
#   (c) sidecar   through s3-sidecar with full SigV4 verification of every request
# and for each: small-object GET requests/s (wrk; every sidecar request carries a presigned URL, so each
# one is verified in full), wall-clock throughput of a 1 GiB PUT and a 1 GiB GET (curl; the sidecar leg
# signs with --aws-sigv4 and UNSIGNED-PAYLOAD), then the ratios (c)/(a), (c)/(b) and the sidecar's RSS.
#
# usage: bench/proxy-bench.sh
# env:   S3_SIDECAR_BIN       binary to measure (default .build/release/s3-sidecar, built if missing)
#        BENCH_MODE           sidecar upstream mode: trusted (default) or passthrough
#        BENCH_DURATION       seconds per wrk run (5)        BENCH_CONNECTIONS  wrk connections (32)
#        BENCH_THREADS        wrk threads (2)                BENCH_SMALL_BYTES  small object size (1024)
#        BENCH_SIZE_MIB       large transfer size (1024)     BENCH_REPEAT       rounds per measurement (3, best kept)
#        BENCH_TMPDIR         where data and configs go (default /dev/shm if it has room, else $TMPDIR)
#        BENCH_STRICT=1       exit 1 when a target of the issue is missed
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

MODE="${BENCH_MODE:-trusted}"
DURATION="${BENCH_DURATION:-5}"
CONNECTIONS="${BENCH_CONNECTIONS:-32}"
THREADS="${BENCH_THREADS:-2}"
SMALL_BYTES="${BENCH_SMALL_BYTES:-1024}"
SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
REPEAT="${BENCH_REPEAT:-3}"
REGION=us-east-1
ACCESS_KEY=AKIABENCHSIDECAR0001
SECRET_KEY='bench/Secret+Key=With/Slash+Plus=='

BENCH_NAME=proxy-bench
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

# MARK: - tools

missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v curl >/dev/null 2>&1 || missing+=(curl)
((${#missing[@]} == 0)) || bench_apt_install "${missing[@]}"
bench_require_nginx
python3 -c 'import boto3' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check boto3
bench_require_sidecar

# MARK: - workspace, backend, nginx proxy, sidecar

bench_workdir $((SIZE_MIB * 3))
read -r PORT_BACKEND PORT_NGINX_STREAM PORT_NGINX_BUFFERED PORT_SIDECAR < <(bench_free_ports 4)
log "work dir $WORK; ports backend=$PORT_BACKEND nginx=$PORT_NGINX_STREAM/$PORT_NGINX_BUFFERED sidecar=$PORT_SIDECAR"
bench_start_backend "$WORK/backend" "$PORT_BACKEND" "$WORK/data"
mkdir -p "$WORK/data/bench" "$WORK/proxy"

proxy_common="
        proxy_http_version 1.1;
        proxy_set_header Connection \"\";
        proxy_set_header Host \$http_host;
        proxy_request_buffering off;
        proxy_buffer_size 1m;
        proxy_buffers 8 1m;
        proxy_busy_buffers_size 2m;
        location / { proxy_pass http://backend; }"
cat >"$WORK/proxy/nginx.conf" <<EOF
$(bench_nginx_user_line)
worker_processes auto;
pid $WORK/proxy/nginx.pid;
error_log $WORK/proxy/error.log warn;
events { worker_connections 4096; }
http {
$(bench_nginx_http_common "$WORK/proxy")
    upstream backend {
        server 127.0.0.1:$PORT_BACKEND;
        keepalive 256;
    }
    server {
        listen 127.0.0.1:$PORT_NGINX_STREAM backlog=4096;
        proxy_buffering off;
$proxy_common
    }
    server {
        listen 127.0.0.1:$PORT_NGINX_BUFFERED backlog=4096;
        proxy_buffering on;
        proxy_max_temp_file_size 0;
$proxy_common
    }
}
EOF
bench_start_nginx "$WORK/proxy" "$PORT_NGINX_STREAM" proxy
bench_start_sidecar "$PORT_SIDECAR" "$PORT_BACKEND" "$MODE" "$REGION" "$ACCESS_KEY" "$SECRET_KEY"

# MARK: - data

head -c "$SMALL_BYTES" /dev/urandom >"$WORK/data/bench/small.bin"
dd if=/dev/zero of="$WORK/data/bench/big.bin" bs=1M count="$SIZE_MIB" status=none
BIG_BYTES=$((SIZE_MIB * 1024 * 1024))

declare -A BASE=(
    [a]="http://127.0.0.1:$PORT_BACKEND"
    [b1]="http://127.0.0.1:$PORT_NGINX_STREAM"
    [b2]="http://127.0.0.1:$PORT_NGINX_BUFFERED"
    [c]="http://127.0.0.1:$PORT_SIDECAR"
)
LEGS=(a b1 b2 c)
SIGV4=(--aws-sigv4 "aws:amz:$REGION:s3" --user "$ACCESS_KEY:$SECRET_KEY" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD")
auth_for() { [[ "$1" == c ]] && printf '%s\n' "${SIGV4[@]}" || true; }

small_url() {
    if [[ "$1" == c ]]; then
        python3 "$REPO/bench/presign.py" "${BASE[c]}" bench small.bin "$ACCESS_KEY" "$SECRET_KEY" 3600
    else
        echo "${BASE[$1]}/bench/small.bin"
    fi
}

# Sanity: every leg serves the small object, byte for byte.
declare -A SMALL_URL
for leg in "${LEGS[@]}"; do
    SMALL_URL[$leg]="$(small_url "$leg")"
    curl -sS --fail --max-time 10 -o "$WORK/check.bin" "${SMALL_URL[$leg]}" \
        || die "leg $leg: GET ${SMALL_URL[$leg]} failed; sidecar log: $(tail -5 "$WORK/sidecar.log")"
    cmp -s "$WORK/check.bin" "$WORK/data/bench/small.bin" || die "leg $leg returned other bytes"
done

# MARK: - small GETs

declare -A RPS
for leg in "${LEGS[@]}"; do
    wrk -t"$THREADS" -c"$CONNECTIONS" -d2s "${SMALL_URL[$leg]}" >/dev/null 2>&1 || true # warm-up
done
for ((round = 1; round <= REPEAT; round++)); do
    for leg in "${LEGS[@]}"; do  # interleaved, so drift on a shared machine hits every leg alike
        out="$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s "${SMALL_URL[$leg]}" 2>&1)" \
            || die "wrk failed on leg $leg: $out"
        if grep -q 'Non-2xx' <<<"$out"; then die "leg $leg answered non-2xx under load: $out"; fi
        rps="$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")"
        log "GET ${SMALL_BYTES} B leg $leg round $round: $rps req/s"
        if [[ -z "${RPS[$leg]:-}" ]] || awk -v n="$rps" -v o="${RPS[$leg]}" 'BEGIN {exit !(n > o)}'; then
            RPS[$leg]="$rps"
        fi
    done
done

# MARK: - 1 GiB PUT and GET

HWM_AFTER_WRK="$(awk '/^VmHWM:/ {print $2}' "/proc/$SIDECAR_PID/status")"
# Reset the peak so that VmHWM afterwards is the peak during the large transfers alone.
RESET_OK=0
if echo 5 >"/proc/$SIDECAR_PID/clear_refs" 2>/dev/null; then RESET_OK=1; fi
# Also sample VmRSS, in case clear_refs is not allowed here.
(
    max=0
    while kill -0 "$SIDECAR_PID" 2>/dev/null; do
        rss="$(awk '/^VmRSS:/ {print $2}' "/proc/$SIDECAR_PID/status" 2>/dev/null || echo 0)"
        ((rss > max)) && { max=$rss; echo "$max" >"$WORK/rss.max"; }
        sleep 0.05
    done
) &
SAMPLER_PID=$!
EXTRA_PIDS+=("$SAMPLER_PID")

transfer() { # leg PUT|GET -> seconds
    local leg="$1" method="$2" key="put-$1.bin" auth=() out code seconds
    mapfile -t auth < <(auth_for "$leg")
    if [[ "$method" == PUT ]]; then
        out="$(curl -sS --max-time 600 "${auth[@]}" -T "$WORK/data/bench/big.bin" -o /dev/null \
            -w '%{http_code} %{time_total} %{size_upload}' "${BASE[$leg]}/bench/$key")" || die "PUT on leg $leg failed"
        read -r code seconds size <<<"$out"
        [[ "$code" =~ ^20[014]$ && "$size" == "$BIG_BYTES" ]] || die "PUT on leg $leg: status $code, $size bytes sent"
        [[ "$(stat -c %s "$WORK/data/bench/$key")" == "$BIG_BYTES" ]] || die "PUT on leg $leg stored a wrong size"
        rm -f "$WORK/data/bench/$key"
    else
        out="$(curl -sS --max-time 600 "${auth[@]}" -o /dev/null \
            -w '%{http_code} %{time_total} %{size_download}' "${BASE[$leg]}/bench/big.bin")" || die "GET on leg $leg failed"
        read -r code seconds size <<<"$out"
        [[ "$code" == 200 && "$size" == "$BIG_BYTES" ]] || die "GET on leg $leg: status $code, $size bytes received"
    fi
    echo "$seconds"
}

declare -A BEST_PUT BEST_GET
for ((round = 1; round <= REPEAT; round++)); do
    for leg in "${LEGS[@]}"; do  # interleaved, so drift on a shared machine hits every leg alike
        for method in PUT GET; do
            s="$(transfer "$leg" "$method")"
            mbps="$(awk -v b="$BIG_BYTES" -v s="$s" 'BEGIN {printf "%.1f", b / s / 1e6}')"
            log "${SIZE_MIB} MiB $method leg $leg round $round: ${s}s = ${mbps} MB/s"
            if [[ "$method" == PUT ]]; then var=BEST_PUT; else var=BEST_GET; fi
            declare -n best="$var"
            if [[ -z "${best[$leg]:-}" ]] || awk -v n="$mbps" -v o="${best[$leg]}" 'BEGIN {exit !(n > o)}'; then
                best[$leg]="$mbps"
            fi
            unset -n best
        done
    done
done

kill "$SAMPLER_PID" 2>/dev/null || true
wait "$SAMPLER_PID" 2>/dev/null || true
SAMPLER_PID=""
HWM_TRANSFER="$(awk '/^VmHWM:/ {print $2}' "/proc/$SIDECAR_PID/status")"
RSS_SAMPLED="$(cat "$WORK/rss.max" 2>/dev/null || echo 0)"
kill -0 "$SIDECAR_PID" 2>/dev/null || die "the sidecar died during the run: $(tail -20 "$WORK/sidecar.log")"

# MARK: - report

ratio() { awk -v c="$1" -v r="$2" 'BEGIN {if (r > 0) printf "%.2f", c / r; else print "n/a"}'; }
better() { awk -v x="$1" -v y="$2" 'BEGIN {print (x >= y) ? x : y}'; }
B_RPS="$(better "${RPS[b1]}" "${RPS[b2]}")"
B_PUT="$(better "${BEST_PUT[b1]}" "${BEST_PUT[b2]}")"
B_GET="$(better "${BEST_GET[b1]}" "${BEST_GET[b2]}")"
target() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t) ? "ok" : "MISSED"}'; }

echo
echo "proxy-bench on loopback, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "sidecar $S3_SIDECAR_BIN (mode $MODE); $("$NGINX" -v 2>&1); $(wrk --version 2>&1 | head -1 | awk '{print $1, $2}'); $(curl --version | head -1 | awk '{print $1, $2}')"
echo "small GET: ${SMALL_BYTES} B object, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s; large: ${SIZE_MIB} MiB; best of $REPEAT interleaved rounds (MB = 10^6 B)"
echo
printf '%-34s %14s %14s %14s\n' "leg" "GET req/s" "PUT MB/s" "GET MB/s"
printf '%-34s %14s %14s %14s\n' "(a) direct to backend" "${RPS[a]}" "${BEST_PUT[a]}" "${BEST_GET[a]}"
printf '%-34s %14s %14s %14s\n' "(b1) nginx proxy_pass, streaming" "${RPS[b1]}" "${BEST_PUT[b1]}" "${BEST_GET[b1]}"
printf '%-34s %14s %14s %14s\n' "(b2) nginx proxy_pass, buffered" "${RPS[b2]}" "${BEST_PUT[b2]}" "${BEST_GET[b2]}"
printf '%-34s %14s %14s %14s\n' "(b) nginx, better of b1/b2" "$B_RPS" "$B_PUT" "$B_GET"
printf '%-34s %14s %14s %14s\n' "(c) s3-sidecar, SigV4 verified" "${RPS[c]}" "${BEST_PUT[c]}" "${BEST_GET[c]}"
echo
R_RPS_A="$(ratio "${RPS[c]}" "${RPS[a]}")";         R_RPS_B="$(ratio "${RPS[c]}" "$B_RPS")"
R_PUT_A="$(ratio "${BEST_PUT[c]}" "${BEST_PUT[a]}")"; R_PUT_B="$(ratio "${BEST_PUT[c]}" "$B_PUT")"
R_GET_A="$(ratio "${BEST_GET[c]}" "${BEST_GET[a]}")"; R_GET_B="$(ratio "${BEST_GET[c]}" "$B_GET")"
printf '%-34s %14s %14s %14s\n' "(c)/(a)" "$R_RPS_A" "$R_PUT_A" "$R_GET_A"
printf '%-34s %14s %14s %14s\n' "(c)/(b)" "$R_RPS_B" "$R_PUT_B" "$R_GET_B"
printf '%-34s %14s %14s %14s\n' "target (c)/(b)" ">= 0.80 $(target "$R_RPS_B" 0.8)" ">= 0.90 $(target "$R_PUT_B" 0.9)" ">= 0.90 $(target "$R_GET_B" 0.9)"
echo
peak_kib="$HWM_TRANSFER"
((RESET_OK)) || peak_kib="$RSS_SAMPLED"
echo "sidecar RSS: peak during the ${SIZE_MIB} MiB transfers $((peak_kib / 1024)) MiB ($( ((RESET_OK)) && echo "VmHWM after clear_refs" || echo "sampled VmRSS")); sampled max VmRSS $((RSS_SAMPLED / 1024)) MiB; VmHWM after the wrk runs $((HWM_AFTER_WRK / 1024)) MiB; target < 64 MiB: $(((peak_kib < 65536)) && echo ok || echo MISSED)"

if [[ "${BENCH_STRICT:-0}" == 1 ]]; then
    missed=0
    for r in "$(target "$R_RPS_B" 0.8)" "$(target "$R_PUT_B" 0.9)" "$(target "$R_GET_B" 0.9)"; do [[ "$r" == ok ]] || missed=1; done
    ((peak_kib < 65536)) || missed=1
    exit "$missed"
fi
