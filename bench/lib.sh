# Shared by bench/proxy-bench.sh and bench/chunked-bench.sh (sourced, not run): tool installation, the
# work directory and its cleanup, free ports, the nginx WebDAV backend both benchmarks measure against,
# and the sidecar under test. The caller sets BENCH_NAME (for messages) and REPO before sourcing.

log() { printf '==> %s\n' "$*" >&2; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }

# apt-get install the Debian packages named, without letting nginx's package start its own service on
# port 80 (the benchmarks run their own instances).
bench_apt_install() { # package...
    log "apt-get install $*"
    apt-get update -qq
    local own_policy=0 failed=0
    if [[ ! -e /usr/sbin/policy-rc.d ]]; then
        printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && own_policy=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null || failed=1
    ((own_policy)) && rm -f /usr/sbin/policy-rc.d
    ((failed == 0)) || die "apt-get install $* failed"
}

# Sets NGINX to a Debian nginx that can serve WebDAV PUT, installing it when missing.
bench_require_nginx() {
    command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || bench_apt_install nginx
    NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
    "$NGINX" -V 2>&1 | grep -q -- '--with-http_dav_module' || die "this nginx has no http_dav_module (needed for the PUT backend)"
}

# Sets S3_SIDECAR_BIN: as given, else .build/release/s3-sidecar, built when missing.
bench_require_sidecar() {
    if [[ -z "${S3_SIDECAR_BIN:-}" ]]; then
        S3_SIDECAR_BIN="$REPO/.build/release/s3-sidecar"
        if [[ ! -x "$S3_SIDECAR_BIN" ]]; then
            log "swift build -c release --product s3-sidecar"
            command -v swift >/dev/null 2>&1 || export PATH="/opt/swift/usr/bin:$PATH"
            swift build -c release --product s3-sidecar >&2
        fi
    fi
    [[ -x "$S3_SIDECAR_BIN" ]] || die "no sidecar binary at $S3_SIDECAR_BIN"
}

# Creates WORK in BENCH_TMPDIR, else /dev/shm when it has NEED_MIB free (disk speed would otherwise
# dominate the upload figures), else $TMPDIR; on exit (also on Ctrl-C or an error) every pid in PIDS
# and EXTRA_PIDS is stopped (TERM, then KILL after 5 s) and WORK removed.
PIDS=()
EXTRA_PIDS=()
bench_workdir() { # need_mib
    local base="${BENCH_TMPDIR:-}" need_kib=$(( ($1 + 256) * 1024 ))
    if [[ -z "$base" ]]; then
        if [[ -d /dev/shm ]] && (( $(df -Pk /dev/shm | awk 'NR==2 {print $4}') > need_kib )); then
            base=/dev/shm
        else
            base="${TMPDIR:-/tmp}"
        fi
    fi
    WORK="$(mktemp -d "$base/$BENCH_NAME.XXXXXX")"
    trap bench_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
}

bench_cleanup() {
    local pid alive
    for pid in "${EXTRA_PIDS[@]}"; do kill -INT "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    for _ in $(seq 50); do
        alive=0
        for pid in "${PIDS[@]}" "${EXTRA_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        ((alive)) || break
        sleep 0.1
    done
    for pid in "${PIDS[@]}" "${EXTRA_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$WORK"
}

# Prints N distinct free loopback ports, all bound at once so none repeats.
bench_free_ports() { # n
    python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
EOF
}

wait_port() { # port seconds pid
    local deadline=$((SECONDS + $2))
    while ((SECONDS < deadline)); do
        kill -0 "$3" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.05
    done
    return 1
}

# The nginx http-block settings every instance shares: keep-alive for the load generators, 1 MiB body
# buffers, no logging (a cost the sidecar, run with --log-level warning, does not pay either).
bench_nginx_http_common() { # dir (for temp paths)
    cat <<EOF
    access_log off;
    default_type application/octet-stream;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 120s;
    keepalive_requests 10000000;
    client_max_body_size 0;
    client_body_buffer_size 1m;
    client_body_temp_path $1/body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
EOF
}

# "user root;" when running as root: nginx workers must reach the private work directory.
bench_nginx_user_line() { [[ "$(id -u)" == 0 ]] && echo "user root;" || true; }

# Starts nginx with DIR/nginx.conf, waits for PORT, appends its pid to PIDS.
bench_start_nginx() { # dir port what
    "$NGINX" -p "$1" -c "$1/nginx.conf" -e "$1/error.log" -g 'daemon off;' &
    PIDS+=($!)
    wait_port "$2" 10 "${PIDS[-1]}" || die "$3 nginx did not start: $(cat "$1/error.log" 2>/dev/null)"
}

# The backend both benchmarks measure against: nginx serving ROOT on PORT, WebDAV PUT and DELETE on.
bench_start_backend() { # dir port root
    mkdir -p "$1" "$3"
    cat >"$1/nginx.conf" <<EOF
$(bench_nginx_user_line)
worker_processes auto;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 4096; }
http {
$(bench_nginx_http_common "$1")
    server {
        listen 127.0.0.1:$2 backlog=4096;
        root $3;
        location / {
            dav_methods PUT DELETE;
            create_full_put_path on;
            dav_access user:rw group:r all:r;
        }
    }
}
EOF
    bench_start_nginx "$1" "$2" backend
}

# Starts the sidecar under test on PORT in front of BACKEND_PORT with one key; sets SIDECAR_PID.
bench_start_sidecar() { # port backend_port mode region access_key secret_key
    printf '{"keys": [{"accessKeyId": "%s", "secretAccessKey": "%s"}]}\n' "$5" "$6" >"$WORK/creds.json"
    local args=(serve --listen "127.0.0.1:$1" --upstream "http://127.0.0.1:$2"
        --mode "$3" --region "$4" --credentials "$WORK/creds.json")
    # Per-request logging would be a cost nginx (access_log off) does not pay.
    if "$S3_SIDECAR_BIN" serve --help 2>&1 | grep -q -- '--log-level'; then args+=(--log-level warning); fi
    "$S3_SIDECAR_BIN" "${args[@]}" >"$WORK/sidecar.log" 2>&1 &
    SIDECAR_PID=$!
    PIDS+=("$SIDECAR_PID")
    wait_port "$1" 30 "$SIDECAR_PID" || die "sidecar did not start: $(tail -20 "$WORK/sidecar.log")"
}
