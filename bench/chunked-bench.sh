#!/usr/bin/env bash
# Streaming-upload benchmark (issue 5): throughput of a large PutObject through s3-sidecar (trusted mode,
# every request SigV4-verified) in front of a fast loopback backend (nginx serving a directory, WebDAV PUT),
# in three body forms, in one run, interleaved, best of BENCH_REPEAT rounds:
#   (u) UNSIGNED-PAYLOAD                    plain body, Content-Length: the reference figure
#   (t) STREAMING-UNSIGNED-PAYLOAD-TRAILER  aws-chunked, unsigned chunks, x-amz-checksum-crc32 trailer
#   (s) STREAMING-AWS4-HMAC-SHA256-PAYLOAD  aws-chunked, every chunk signed, final empty chunk signed
# then the ratios t/u and s/u against the issue's target (>= 0.7) and the sidecar's peak RSS. Each upload
# must answer 2xx and leave exactly SIZE_MIB MiB on the backend (the sidecar decodes aws-chunked bodies
# in trusted mode); in round 1 the stored bytes are compared with the object, byte for byte.
# The client is bench/chunked_upload.py (hashes, CRC32 and framing prepared before the clock starts).
#
# usage: bench/chunked-bench.sh
# env:   S3_SIDECAR_BIN   binary to measure (default .build/release/s3-sidecar, built if missing)
#        BENCH_SIZE_MIB   object size in MiB (1024)       BENCH_REPEAT  rounds (3, best kept)
#        BENCH_CHUNK_KIB  aws-chunked chunk size in KiB, a divisor of 1024 (64; boto3 uses 1024)
#        BENCH_FORMS      forms to run, in order (u t s)
#        BENCH_TMPDIR     where data and configs go (default /dev/shm if it has room, else $TMPDIR)
#        BENCH_PARALLEL=N then N signed uploads (s) at once, BENCH_PARALLEL_MIB each (256): the aggregate
#                         MB/s and the sidecar's peak threads and RSS (the off-loop hashing's bounds)
#        BENCH_PERF=FORM  also record `perf record -g` on the sidecar during that form's last upload
#                         and print the top of the report (needs perf)
#        BENCH_STRICT=1   exit 1 when a ratio misses the target
set -euo pipefail
cd "$(dirname "$0")/.."
REPO="$PWD"

SIZE_MIB="${BENCH_SIZE_MIB:-1024}"
REPEAT="${BENCH_REPEAT:-3}"
CHUNK_KIB="${BENCH_CHUNK_KIB:-64}"
read -r -a FORMS <<<"${BENCH_FORMS:-u t s}"
PERF_FORM="${BENCH_PERF:-}"
PARALLEL="${BENCH_PARALLEL:-0}"
PARALLEL_MIB="${BENCH_PARALLEL_MIB:-256}"
REGION=us-east-1
ACCESS_KEY=AKIABENCHSIDECAR0002
SECRET_KEY='bench/Chunked+Key=With/Slash+Plus=='
TARGET=0.7

BENCH_NAME=chunked-bench
# shellcheck source=bench/lib.sh
source "$REPO/bench/lib.sh"

(( 1024 % CHUNK_KIB == 0 )) || die "BENCH_CHUNK_KIB=$CHUNK_KIB does not divide 1024"
for form in "${FORMS[@]}"; do [[ "$form" =~ ^[uts]$ ]] || die "unknown form $form in BENCH_FORMS (u, t, s)"; done

# MARK: - tools, workspace, backend (the same nginx WebDAV backend as proxy-bench.sh), sidecar

bench_require_nginx
python3 -c 'import botocore' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check botocore
if [[ -n "$PERF_FORM" ]]; then command -v perf >/dev/null 2>&1 || die "BENCH_PERF needs perf"; fi
bench_require_sidecar

# One stored object at a time (deleted after its check) plus nginx's temp file while it arrives.
[[ "$PARALLEL" =~ ^[0-9]+$ && "$PARALLEL_MIB" =~ ^[1-9][0-9]*$ ]] || die "BENCH_PARALLEL and BENCH_PARALLEL_MIB are counts"
bench_workdir $(( SIZE_MIB * 2 > (PARALLEL + 1) * PARALLEL_MIB ? SIZE_MIB * 2 : (PARALLEL + 1) * PARALLEL_MIB ))
PERF_PID=""
read -r PORT_BACKEND PORT_SIDECAR < <(bench_free_ports 2)
log "work dir $WORK; ports backend=$PORT_BACKEND sidecar=$PORT_SIDECAR"
mkdir -p "$WORK/data/bench"
bench_start_backend "$WORK/backend" "$PORT_BACKEND" "$WORK/data"
bench_start_sidecar "$PORT_SIDECAR" "$PORT_BACKEND" trusted "$REGION" "$ACCESS_KEY" "$SECRET_KEY"

# MARK: - uploads

BIG_BYTES=$((SIZE_MIB * 1024 * 1024))
CLIENT=(python3 "$REPO/bench/chunked_upload.py")
declare -A NAME=(
    [u]="UNSIGNED-PAYLOAD"
    [t]="STREAMING-UNSIGNED-PAYLOAD-TRAILER + crc32"
    [s]="STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
)

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, in clock ticks
TICKS="$(getconf CLK_TCK)"

upload() { # form round; sets RESULT="MB/s seconds client_cpu sidecar_cpu" (not run in a subshell: perf and die)
    local form="$1" round="$2" key="up-$1.bin" out status seconds client_cpu sent machine_cpu ticks0 ticks1 perf=0
    if [[ -n "$PERF_FORM" && "$form" == "$PERF_FORM" && "$round" == "$REPEAT" ]]; then
        perf record -g -o "$WORK/perf.data" -p "$SIDECAR_PID" >/dev/null 2>"$WORK/perf.log" &
        PERF_PID=$!
        EXTRA_PIDS+=("$PERF_PID")
        sleep 0.5
        perf=1
    fi
    ticks0="$(cpu_ticks "$SIDECAR_PID")"
    out="$("${CLIENT[@]}" put "$form" "http://127.0.0.1:$PORT_SIDECAR/bench/$key" \
        "$ACCESS_KEY" "$SECRET_KEY" "$REGION" "$SIZE_MIB" "$CHUNK_KIB" 2>"$WORK/client.err")" \
        || die "form $form round $round: client failed: $(tail -5 "$WORK/client.err")"
    ticks1="$(cpu_ticks "$SIDECAR_PID")"
    if ((perf)); then
        kill -INT "$PERF_PID" 2>/dev/null || true
        wait "$PERF_PID" 2>/dev/null || true
        PERF_PID=""
    fi
    read -r status seconds client_cpu sent machine_cpu <<<"$out"
    [[ "$status" =~ ^2[0-9][0-9]$ ]] \
        || die "form $form round $round: status $status: $(tail -5 "$WORK/client.err"); sidecar log: $(tail -5 "$WORK/sidecar.log")"
    local stored
    stored="$(stat -c %s "$WORK/data/bench/$key" 2>/dev/null || echo missing)"
    [[ "$stored" == "$BIG_BYTES" ]] || die "form $form round $round: the backend holds $stored bytes, not $BIG_BYTES"
    if [[ "$round" == 1 ]]; then
        "${CLIENT[@]}" verify "$WORK/data/bench/$key" "$SIZE_MIB" >&2 \
            || die "form $form: the backend holds other bytes than were uploaded"
        log "form $form: the stored object is byte for byte the uploaded one"
    fi
    rm -f "$WORK/data/bench/$key"
    RESULT="$(awk -v b="$BIG_BYTES" -v s="$seconds" -v c="$client_cpu" -v t0="$ticks0" -v t1="$ticks1" -v hz="$TICKS" \
        -v m="${machine_cpu:-n/a}" \
        'BEGIN {printf "%.1f %.3f %.2f %.2f %s\n", b / s / 1e6, s, c, (t1 - t0) / hz, m}')"
}

# Warm-up: one small upload per form (connections, signing-key cache, page cache of the client).
for form in "${FORMS[@]}"; do
    out="$("${CLIENT[@]}" put "$form" "http://127.0.0.1:$PORT_SIDECAR/bench/warm-$form.bin" \
        "$ACCESS_KEY" "$SECRET_KEY" "$REGION" 8 "$CHUNK_KIB" 2>"$WORK/client.err")" \
        || die "warm-up $form: client failed: $(tail -5 "$WORK/client.err")"
    [[ "${out%% *}" =~ ^2[0-9][0-9]$ ]] || die "warm-up $form: $out: $(tail -5 "$WORK/client.err"); sidecar log: $(tail -5 "$WORK/sidecar.log")"
    rm -f "$WORK/data/bench/warm-$form.bin"
done

HWM_BEFORE="$(awk '/^VmHWM:/ {print $2}' "/proc/$SIDECAR_PID/status")"
RESET_OK=0  # reset the peak so that VmHWM afterwards is the peak during the timed uploads
if echo 5 >"/proc/$SIDECAR_PID/clear_refs" 2>/dev/null; then RESET_OK=1; fi

declare -A BEST BEST_LINE
for ((round = 1; round <= REPEAT; round++)); do
    for form in "${FORMS[@]}"; do  # interleaved, so drift on a shared machine hits every form alike
        upload "$form" "$round"
        line="$RESULT"
        read -r mbps seconds client_cpu sidecar_cpu machine_cpu <<<"$line"
        log "${SIZE_MIB} MiB form $form round $round: ${seconds}s = ${mbps} MB/s (client CPU ${client_cpu}s, sidecar CPU ${sidecar_cpu}s, machine ${machine_cpu}s)"
        if [[ -z "${BEST[$form]:-}" ]] || awk -v n="$mbps" -v o="${BEST[$form]}" 'BEGIN {exit !(n > o)}'; then
            BEST[$form]="$mbps"
            BEST_LINE[$form]="$line"
        fi
    done
done

kill -0 "$SIDECAR_PID" 2>/dev/null || die "the sidecar died during the run: $(tail -20 "$WORK/sidecar.log")"
HWM="$(awk '/^VmHWM:/ {print $2}' "/proc/$SIDECAR_PID/status")"
RSS_NOW="$(awk '/^VmRSS:/ {print $2}' "/proc/$SIDECAR_PID/status")"

# MARK: - report

ratio() { awk -v c="$1" -v r="$2" 'BEGIN {if (r > 0) printf "%.2f", c / r; else print "n/a"}'; }
verdict() { awk -v v="$1" -v t="$TARGET" 'BEGIN {print (v != "n/a" && v >= t) ? "ok" : "MISSED"}'; }

echo
echo "chunked-bench on loopback, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%M:%SZ)"
echo "sidecar $S3_SIDECAR_BIN (mode trusted) -> $("$NGINX" -v 2>&1 | sed 's/^nginx version: //') WebDAV on $(dirname "$WORK")"
echo "object ${SIZE_MIB} MiB; aws-chunked chunks of ${CHUNK_KIB} KiB; best of $REPEAT interleaved rounds (MB = 10^6 B)"
echo "CPU columns: seconds of CPU in the best round (client = the Python uploader, sidecar = utime+stime of its pid,"
echo "machine = busy time of all $(nproc) cores while the upload ran, from /proc/stat: client, sidecar, nginx, kernel, the rest)"
echo
printf '%-3s %-44s %10s %9s %11s %12s %12s\n' "" "form" "MB/s" "seconds" "client CPU" "sidecar CPU" "machine CPU"
for form in "${FORMS[@]}"; do
    read -r mbps seconds client_cpu sidecar_cpu machine_cpu <<<"${BEST_LINE[$form]}"
    printf '%-3s %-44s %10s %9s %11s %12s %12s\n' "($form)" "${NAME[$form]}" "$mbps" "$seconds" "$client_cpu" "$sidecar_cpu" "$machine_cpu"
done
echo
missed=0
if [[ -n "${BEST[u]:-}" ]]; then
    for form in t s; do
        [[ -n "${BEST[$form]:-}" ]] || continue
        r="$(ratio "${BEST[$form]}" "${BEST[u]}")"
        v="$(verdict "$r")"
        [[ "$v" == ok ]] || missed=1
        printf '%-48s %10s   target >= %s: %s\n' "$form/u" "$r" "$TARGET" "$v"
    done
    echo
fi
if ((RESET_OK)); then
    echo "sidecar RSS: peak during the timed uploads $((HWM / 1024)) MiB (VmHWM after clear_refs); now $((RSS_NOW / 1024)) MiB; VmHWM before the reset $((HWM_BEFORE / 1024)) MiB"
else
    echo "sidecar RSS: peak since start $((HWM / 1024)) MiB (VmHWM; clear_refs not allowed here); now $((RSS_NOW / 1024)) MiB"
fi

if ((PARALLEL > 0)); then
    echo 5 >"/proc/$SIDECAR_PID/clear_refs" 2>/dev/null || true
    log "$PARALLEL concurrent signed uploads of $PARALLEL_MIB MiB"
    clients=()
    for ((i = 1; i <= PARALLEL; i++)); do
        "${CLIENT[@]}" put s "http://127.0.0.1:$PORT_SIDECAR/bench/par-$i.bin" "$ACCESS_KEY" "$SECRET_KEY" "$REGION" \
            "$PARALLEL_MIB" "$CHUNK_KIB" >"$WORK/par-$i.out" 2>"$WORK/par-$i.err" &
        clients+=($!)
    done
    peak_threads=0
    any_running() { local pid; for pid in "${clients[@]}"; do kill -0 "$pid" 2>/dev/null && return 0; done; return 1; }
    while any_running; do
        threads="$(awk '/^Threads:/ {print $2}' "/proc/$SIDECAR_PID/status")"
        ((threads > peak_threads)) && peak_threads="$threads"
        sleep 0.1
    done
    wait "${clients[@]}" || die "a concurrent upload's client failed: $(cat "$WORK"/par-*.err | tail -5)"
    slowest=0
    for ((i = 1; i <= PARALLEL; i++)); do
        read -r status seconds _ <"$WORK/par-$i.out"
        [[ "$status" =~ ^2[0-9][0-9]$ ]] || die "concurrent upload $i: status $status: $(tail -5 "$WORK/par-$i.err")"
        stored="$(stat -c %s "$WORK/data/bench/par-$i.bin" 2>/dev/null || echo missing)"
        [[ "$stored" == $((PARALLEL_MIB << 20)) ]] || die "concurrent upload $i: the backend holds $stored bytes"
        slowest="$(awk -v a="$slowest" -v b="$seconds" 'BEGIN {print (b > a) ? b : a}')"
        rm -f "$WORK/data/bench/par-$i.bin"
    done
    echo
    printf '%s concurrent (s) uploads of %s MiB: %s MB/s together (the slowest took %s s); sidecar peak %s threads, peak RSS %s MiB\n' \
        "$PARALLEL" "$PARALLEL_MIB" \
        "$(awk -v n="$PARALLEL" -v m="$PARALLEL_MIB" -v s="$slowest" 'BEGIN {printf "%.1f", n * m * 1048576 / s / 1e6}')" \
        "$slowest" "$peak_threads" "$(($(awk '/^VmHWM:/ {print $2}' "/proc/$SIDECAR_PID/status") / 1024))"
fi

if [[ -n "$PERF_FORM" && -s "$WORK/perf.data" ]]; then
    echo
    echo "perf: where the sidecar's CPU went during the last upload of form $PERF_FORM (self time, top 25)"
    demangle=(cat)
    if command -v swift-demangle >/dev/null 2>&1; then demangle=(swift-demangle --simplified)
    elif [[ -x /opt/swift/usr/bin/swift-demangle ]]; then demangle=(/opt/swift/usr/bin/swift-demangle --simplified); fi
    perf report -i "$WORK/perf.data" -g none --no-children --sort dso,symbol --stdio 2>/dev/null \
        | grep -E '^ +[0-9]' | head -25 | "${demangle[@]}" | awk '{$1 = $1; print}' | cut -c1-160 || true
fi

if [[ "${BENCH_STRICT:-0}" == 1 ]]; then exit "$missed"; fi
