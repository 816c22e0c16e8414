#!/usr/bin/env bash
# Proxy overhead: small POST /v1/completions answered by nginx, measured with wrk three ways in one run —
# straight to nginx (the baseline), through nghttpx (the reference proxy), and through switchyard serve.
# Prints a table (median of interleaved rounds) and appends it, dated, to benchmarks/RESULTS.md.
#
#   benchmarks/overhead/run.sh                      # or: make bench-overhead
#   DURATION=10 CONNS=32 ROUNDS=3 RECORD=0 benchmarks/overhead/run.sh
#
# Pinning: the proxy under test gets CPU 0 to itself; wrk and nginx share CPU 1. The direct row runs
# with CPU 0 idle, so the ratio reads "what one proxy core costs in front of this upstream".
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source benchmarks/lib.sh
invocation="benchmarks/overhead/run.sh${*:+ $*}"

DURATION=${DURATION:-10}        # seconds per wrk run
CONNS=${CONNS:-32}              # wrk connections (one wrk thread)
ROUNDS=${ROUNDS:-3}             # every setup runs once per round; the table shows medians
WARMUP=${WARMUP:-2}             # seconds of unrecorded load per setup before round 1
RECORD=${RECORD:-1}             # 0: print the table only, leave RESULTS.md alone
BIN=${SWITCHYARD_BIN:-.build/release/switchyard}

readonly STARTUP_TIMEOUT=10     # seconds for a server to answer its first request
readonly WRK_SLACK=30           # wrk gets DURATION + this before it is killed
readonly PROXY_CPU=0 LOAD_CPU=1
readonly REQUEST_BODY='{"model":"m","prompt":"hi"}'
# About 200 bytes, shaped like a real non-streaming completion so the proxies parse a realistic answer.
readonly UPSTREAM_BODY='{"id":"cmpl-overhead","object":"text_completion","created":1700000000,"model":"m","choices":[{"index":0,"text":" there!","finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}'
SETUPS=(direct nghttpx switchyard)

scripts/deps.sh nginx-light nghttp2-proxy wrk
# Another build or benchmark on these two cores skews every row; the record says how busy it was.
bench_prepare overhead 0.5   # sets out and load_at_start

workdir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-overhead.XXXXXX")
bench_log_dir=$workdir      # its logs are printed if the run fails; it is removed on exit
bench_remove_dir=$workdir

# Command prefixes that pin to one CPU (taskset execs, so $! is still the server's own PID).
# On a one-CPU machine there is nothing to pin to.
if (( $(nproc) >= 2 )); then
    on_proxy_cpu=(taskset -c "$PROXY_CPU") on_load_cpu=(taskset -c "$LOAD_CPU")
else
    on_proxy_cpu=() on_load_cpu=()
fi

# wait_for_answer NAME PID URL: POSTs the benchmark request until it gets the upstream's exact body.
wait_for_answer() {
    local name=$1 pid=$2 url=$3 got deadline=$((SECONDS + STARTUP_TIMEOUT))
    while (( SECONDS < deadline )); do
        kill -0 "$pid" 2>/dev/null || { echo "overhead: $name exited during startup" >&2; return 1; }
        got=$(curl -s --max-time 2 -H 'content-type: application/json' -d "$REQUEST_BODY" "$url" || true)
        [[ "$got" == "$UPSTREAM_BODY" ]] && return 0
        sleep 0.1
    done
    echo "overhead: $name at $url did not return the upstream body within ${STARTUP_TIMEOUT}s (got: ${got:0:200})" >&2
    return 1
}

base=$(scripts/free-ports.py 3)
nginx_port=$base nghttpx_port=$((base + 1)) switchyard_port=$((base + 2))
declare -A proxy_pid=([direct]=0)   # whose CPU time counts as the proxy's, per setup
declare -A url=(
    [direct]="http://127.0.0.1:$nginx_port/v1/completions"
    [nghttpx]="http://127.0.0.1:$nghttpx_port/v1/completions"
    [switchyard]="http://127.0.0.1:$switchyard_port/v1/completions"
)

# --- the upstream: nginx answering every POST /v1/completions with a fixed body -------------------
# (`return` rather than a static file: nginx refuses POST to static files with 405)
mkdir -p "$workdir/nginx"
cat > "$workdir/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $workdir/nginx.pid;
error_log $workdir/nginx.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $workdir/nginx/body;
    proxy_temp_path $workdir/nginx/proxy;
    fastcgi_temp_path $workdir/nginx/fastcgi;
    uwsgi_temp_path $workdir/nginx/uwsgi;
    scgi_temp_path $workdir/nginx/scgi;
    keepalive_requests 100000000;
    keepalive_timeout 120s;
    server {
        listen 127.0.0.1:$nginx_port;
        location = /v1/completions {
            default_type application/json;
            return 200 '$UPSTREAM_BODY';
        }
        # What an inference server answers to the router's active health checks (GET /health).
        location = /health {
            return 200;
        }
    }
}
EOF
"${on_load_cpu[@]}" nginx -p "$workdir" -e "$workdir/nginx.log" -c "$workdir/nginx.conf" 2>> "$workdir/nginx.log" &
bench_track $!
wait_for_answer nginx "$!" "${url[direct]}"

# --- nghttpx: one worker, one process, plain HTTP/1.1 front, no access log (it logs none unless told) ----
"${on_proxy_cpu[@]}" nghttpx --conf=/dev/null --single-process --workers=1 --no-ocsp \
    --frontend="127.0.0.1,$nghttpx_port;no-tls" --backend="127.0.0.1,$nginx_port" \
    --log-level=WARN --errorlog-file="$workdir/nghttpx.log" 2>> "$workdir/nghttpx.log" &
bench_track $!
proxy_pid[nghttpx]=$!
wait_for_answer nghttpx "$!" "${url[nghttpx]}"

# --- switchyard serve: one replica (nginx), access log off ----------------------------------------
# The access log goes off through a generated config file, the form every version of serve reads.
switchyard_status="not run"
if [[ ! -x "$BIN" ]]; then
    switchyard_status="$BIN not built (make build)"
else
    # One worker, as nghttpx gets, where the config knows `workers` (before it did, serve had one loop).
    for workers_line in "workers: 1" ""; do
        cat > "$workdir/switchyard.yaml" <<EOF
listen:
  - address: 127.0.0.1:$switchyard_port
$workers_line
access_log: false
pools:
  bench:
    replicas: [http://127.0.0.1:$nginx_port]
EOF
        "$BIN" check-config "$workdir/switchyard.yaml" > "$workdir/check-config.log" 2>&1 && break
    done
    if ! "$BIN" check-config "$workdir/switchyard.yaml" > "$workdir/check-config.log" 2>&1; then
        workers_line=""
        switchyard_status="check-config rejected the generated config: $(head -n 3 "$workdir/check-config.log" | tr '\n' ' ')"
    else
        "${on_proxy_cpu[@]}" "$BIN" serve -c "$workdir/switchyard.yaml" > "$workdir/switchyard.log" 2>&1 &
        bench_track $!
        proxy_pid[switchyard]=$!
        if wait_for_answer switchyard "$!" "${url[switchyard]}"; then
            switchyard_status=ok
        else
            switchyard_status="serve did not relay the upstream answer: $(tail -n 2 "$workdir/switchyard.log" | tr '\n' ' ')"
        fi
    fi
fi
if [[ "$switchyard_status" != ok ]]; then
    echo "overhead: switchyard row skipped: $switchyard_status" >&2
    echo "$switchyard_status" > "$out/switchyard.skipped"
fi

# --- load ------------------------------------------------------------------------------------------
cat > "$workdir/post.lua" <<EOF
wrk.method = "POST"
wrk.body = '$REQUEST_BODY'
wrk.headers["Content-Type"] = "application/json"
EOF

# cpu_snapshot PID: one line of cumulative CPU ticks — the proxy process's (0 for none), each CPU's busy
# and total, and steal. Taken around each run, so the report can say what the proxy cost per request
# and whether anything else was using the CPUs meanwhile.
cpu_snapshot() {
    local proxy=0
    if (( $1 > 0 )); then proxy=$(awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"); fi
    awk -v proxy="$proxy" '
        /^cpu[01] / { busy = $2 + $3 + $4 + $7 + $8; total = busy + $5 + $6 + $9; steal += $9
                      printf "%s_busy=%d %s_softirq=%d %s_total=%d ", $1, busy, $1, $8, $1, total }
        END { printf "steal=%d proxy=%d\n", steal, proxy }' /proc/stat
}
getconf CLK_TCK > "$out/clk_tck"

run_wrk() {  # run_wrk SETUP SECONDS OUTFILE
    "${on_load_cpu[@]}" timeout $(( $2 + WRK_SLACK )) wrk -t1 -c"$CONNS" -d"$2"s --latency --timeout 5s \
        -s "$workdir/post.lua" "${url[$1]}" > "$3"
}

active=()
for setup in "${SETUPS[@]}"; do [[ -e "$out/$setup.skipped" ]] || active+=("$setup"); done

echo "overhead: warm-up ${WARMUP}s each: ${active[*]}"
for setup in "${active[@]}"; do run_wrk "$setup" "$WARMUP" /dev/null; done

# Interleaved rounds, each starting one setup later, so slow drift of the machine (thermal, noisy
# neighbours) spreads over every setup instead of landing on whichever runs last.
for (( round = 1; round <= ROUNDS; round++ )); do
    for (( i = 0; i < ${#active[@]}; i++ )); do
        setup=${active[$(( (i + round - 1) % ${#active[@]} ))]}
        echo "overhead: round $round/$ROUNDS $setup (${DURATION}s, $CONNS connections)"
        cpu_snapshot "${proxy_pid[$setup]}" > "$out/$setup-r$round.cpu"
        run_wrk "$setup" "$DURATION" "$out/$setup-r$round.txt"
        cpu_snapshot "${proxy_pid[$setup]}" >> "$out/$setup-r$round.cpu"
    done
done

table=$(python3 benchmarks/overhead/report.py "$out" "${SETUPS[@]}")
echo
echo "$table"
echo
echo "overhead: raw wrk output in $out"

# --- record ------------------------------------------------------------------------------------------
bench_record_begin || exit 0   # sets results, git_rev, cpu_model
[[ -f "$results" ]] || printf '# Benchmark results\n\nAppended by the benchmarks'"'"' run scripts, newest last. See benchmarks/README.md.\n' > "$results"
{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — overhead: nginx direct vs nghttpx vs switchyard"
    echo
    echo "- command: \`DURATION=$DURATION CONNS=$CONNS ROUNDS=$ROUNDS $invocation\`"
    echo "- load: \`wrk -t1 -c$CONNS -d${DURATION}s --latency\`, POST /v1/completions \`$REQUEST_BODY\`; nginx answers 200 with a ${#UPSTREAM_BODY}-byte JSON body; median of $ROUNDS interleaved rounds"
    echo "- pinning: proxy on CPU $PROXY_CPU; wrk and nginx on CPU $LOAD_CPU"
    echo "- proxies: nghttpx \`--single-process --workers=1\`, no access log; switchyard \`serve -c\` with \`access_log: false\`, ${workers_line:-no workers key (one loop)}"
    echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r), load average at start $load_at_start"
    echo "- versions: $(nginx -v 2>&1 | sed 's/^nginx version: //'), $(nghttpx --version | head -n 1), wrk $(wrk -v 2>&1 | head -n 1 | awk '{print $2}'), switchyard $git_rev, $(swift --version 2>/dev/null | head -n 1 || echo 'swift unknown')"
    echo
    echo "$table"
} >> "$results"
echo "overhead: appended to $results"
