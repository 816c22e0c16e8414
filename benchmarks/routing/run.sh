#!/usr/bin/env bash
# Routing policies on a simulated fleet: the same open-loop streaming load (same seed, same Poisson
# arrivals) through switchyard serve with each routing policy, and through sglang-router's cache_aware
# policy as the outside baseline, against 4 simulated vLLM replicas whose prefix caches are too small for
# one replica to hold the working set but large enough for the fleet. Prints one table per workload and
# appends them, dated, to benchmarks/RESULTS.md.
#
#   benchmarks/routing/run.sh                                   # or: make bench-routing
#   WORKLOADS=a,b DURATION=10 POLICIES=round-robin RECORD=0 benchmarks/routing/run.sh
#
# A policy the binary rejects at startup is skipped with a note, so the script runs against any build.
# The load generator and the report are loadgen.py and report.py beside this file.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source benchmarks/lib.sh
invocation="benchmarks/routing/run.sh${*:+ $*}"

POLICIES=${POLICIES:-round-robin,least-request,prefix-affinity,kv-aware,consistent-hash,p2c}
WORKLOADS=${WORKLOADS:-a,b,c}
SGLANG=${SGLANG:-1}                 # 0: leave out the sglang-router baseline
WARMUP=${WARMUP:-5}                 # seconds of arrivals first, sent but not measured (caches fill)
DURATION=${DURATION:-20}            # seconds of measured arrivals per run (then in-flight work drains)
LOAD=${LOAD:-0.7}                   # offered load as a fraction of the fleet's cold-cache capacity
# Simulated time is halved: a 2k-token prefill takes 51 ms instead of 102, so twice as many requests fit
# in a run of the same length (better p99s) while the client still keeps up on a shared 2-core machine.
SPEEDUP=${SPEEDUP:-2}
# 1,280 blocks × 16 = 20,480 tokens per replica: 10 of the 32 system prompts (2,048 tokens each, 4,096
# blocks in all), i.e. 31% of workload a's working set; the fleet's 5,120 blocks hold all 32 with 25% to
# spare for the questions' own blocks and an uneven split. See RESULTS.md for the arithmetic.
CACHE_BLOCKS=${CACHE_BLOCKS:-1280}
MAX_TOKENS=${MAX_TOKENS:-32}        # output tokens per request
SEED=${SEED:-1}
# Fixed ports: the replicas' URLs are the keys hash-based policies place prefixes by, so with ports that
# change from run to run the same schedule lands differently (kv-aware's hit rate on a moved between 95
# and 98.5% that way). Every run uses PORT_BASE..+5; if one is taken, free ports are used with a warning.
PORT_BASE=${PORT_BASE:-23400}
RECORD=${RECORD:-1}                 # 0: print the tables only, leave RESULTS.md alone
BIN=${BIN:-${SWITCHYARD_BIN:-.build/release/switchyard}}
SIM_BIN=${SIM_BIN:-$BIN}            # the binary that runs the sims: set it to hold the fleet fixed across router builds

readonly REPLICAS=4
readonly STARTUP_TIMEOUT=15         # seconds for a sim or a router to come up
readonly SGLANG_ROUTER_VERSION=0.3.2 AIOHTTP_VERSION=3.14.5
readonly VENV=.build/routing-venv
BENCH_STOP_GRACE=5

for bin in "$BIN" "$SIM_BIN"; do
    [[ -x "$bin" ]] || { echo "routing: $bin is not built (make build, or set BIN=path)" >&2; exit 1; }
done
bench_prepare routing 1.0   # sets out and load_at_start
bench_log_dir=$out

# --- the venv: the load generator's aiohttp and the sglang-router baseline, pinned -----------------------
if ! "$VENV/bin/python" -c "import aiohttp, sglang_router; from importlib.metadata import version as v; \
        assert v('sglang-router') == '$SGLANG_ROUTER_VERSION' and v('aiohttp') == '$AIOHTTP_VERSION'" 2>/dev/null; then
    scripts/deps.sh python3-venv
    echo "routing: installing sglang-router==$SGLANG_ROUTER_VERSION and aiohttp==$AIOHTTP_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install -q "sglang-router==$SGLANG_ROUTER_VERSION" "aiohttp==$AIOHTTP_VERSION"
fi
py="$VENV/bin/python"

# wait_http NAME PID URL [GREP]: until URL answers 200 (and its body matches GREP, if given).
wait_http() {
    local name=$1 pid=$2 url=$3 pattern=${4:-} body deadline=$((SECONDS + STARTUP_TIMEOUT))
    while (( SECONDS < deadline )); do
        kill -0 "$pid" 2>/dev/null || return 1
        if body=$(curl -sf --max-time 1 "$url"); then
            [[ -z "$pattern" ]] || grep -qE "$pattern" <<< "$body" && return 0
        fi
        sleep 0.1
    done
    echo "routing: $name at $url not ready within ${STARTUP_TIMEOUT}s" >&2
    return 1
}

# run_one ROUTER WORKLOAD: a fresh fleet (empty caches) and router, the load, then both stopped.
# Returns 3 when switchyard rejects the policy at startup (the reason goes to $out/ROUTER.skipped).
run_one() {
    local router=$1 workload=$2 tag="$1-$2" base sim_pid router_pid i status=0
    base=$PORT_BASE
    if ! python3 -c 'import socket, sys
for port in range(int(sys.argv[1]), int(sys.argv[1]) + int(sys.argv[2])):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", port)); s.close()' \
            "$PORT_BASE" $((REPLICAS + 2)) 2>/dev/null; then
        base=$(scripts/free-ports.py $((REPLICAS + 2)))
        echo "routing: warning: ports $PORT_BASE-$((PORT_BASE + REPLICAS + 1)) busy; using $base-: hash placement differs from other runs" >&2
    fi
    local router_port=$((base + REPLICAS)) metrics_port=$((base + REPLICAS + 1)) replica_urls=() replica_flags=()
    for (( i = 0; i < REPLICAS; i++ )); do
        replica_urls+=("http://127.0.0.1:$((base + i))")
        replica_flags+=(--replica "http://127.0.0.1:$((base + i))")
    done

    "$SIM_BIN" sim --port "$base" --replicas "$REPLICAS" --speedup "$SPEEDUP" --cache-blocks "$CACHE_BLOCKS" \
        --seed "$SEED" > "$out/$tag-sim.log" 2>&1 &
    sim_pid=$!
    bench_track "$sim_pid"
    # (Called from an `if`, so errexit is off in here: every failure is checked by hand.)
    for url in "${replica_urls[@]}"; do wait_http sim "$sim_pid" "$url/health" || return 1; done

    if [[ "$router" == sglang-router ]]; then
        # HTTP workers need no tokenizer: cache_aware matches on the request's characters. The worker probe
        # finds /health; /server_info and /model_info 404 on the sim, which it tolerates (model "unknown").
        HF_HUB_OFFLINE=1 "$py" -m sglang_router.launch_router --worker-urls "${replica_urls[@]}" \
            --policy cache_aware --host 127.0.0.1 --port "$router_port" \
            --prometheus-host 127.0.0.1 --prometheus-port "$metrics_port" --log-level warn \
            > "$out/$tag-router.log" 2>&1 &
        router_pid=$!
        bench_track "$router_pid"
        # Workers register in the background; until all four are healthy it would route to fewer.
        wait_http sglang-router "$router_pid" "http://127.0.0.1:$router_port/workers" \
            "\"regular_count\":$REPLICAS" || status=1
        if (( status == 0 )); then
            local deadline=$((SECONDS + STARTUP_TIMEOUT))
            until (( $(curl -sf "http://127.0.0.1:$router_port/workers" | grep -o '"is_healthy":true' | wc -l) == REPLICAS )); do
                (( SECONDS < deadline )) || { echo "routing: sglang-router: workers not healthy" >&2; status=1; break; }
                sleep 0.2
            done
        fi
    else
        "$BIN" serve --listen "127.0.0.1:$router_port" "${replica_flags[@]}" \
            --policy "$router" --no-access-log > "$out/$tag-router.log" 2>&1 &
        router_pid=$!
        bench_track "$router_pid"
        if ! wait_http "switchyard $router" "$router_pid" "http://127.0.0.1:$router_port/healthz"; then
            if ! kill -0 "$router_pid" 2>/dev/null; then
                wait "$router_pid" 2>/dev/null || true
                tail -n 1 "$out/$tag-router.log" > "$out/$router.skipped"
                bench_stop_pid "$router_pid"
                bench_stop_pid "$sim_pid"
                return 3
            fi
            status=1
        fi
    fi
    if (( status == 0 )); then
        "$py" benchmarks/routing/loadgen.py --workload "$workload" --router-url "http://127.0.0.1:$router_port" \
            "${replica_urls[@]/#/--replica-url=}" --warmup "$WARMUP" --duration "$DURATION" --load "$LOAD" --speedup "$SPEEDUP" \
            --max-tokens "$MAX_TOKENS" --seed "$SEED" --out "$out/$tag.json" &
        # In the background and waited for, so that a SIGTERM to this script is handled at once.
        local loadgen_pid=$!
        bench_track "$loadgen_pid"
        wait "$loadgen_pid" || status=$?
        bench_stop_pid "$loadgen_pid"
    fi
    kill -0 "$router_pid" 2>/dev/null || echo "routing: $router exited during the $workload run" >&2
    kill -0 "$sim_pid" 2>/dev/null || echo "routing: the sims exited during the $router/$workload run" >&2
    bench_stop_pid "$router_pid"
    bench_stop_pid "$sim_pid"
    return "$status"
}

IFS=, read -r -a policies <<< "$POLICIES"
IFS=, read -r -a workloads <<< "$WORKLOADS"
routers=("${policies[@]}")
(( SGLANG == 0 )) || routers+=(sglang-router)

started=$SECONDS
for workload in "${workloads[@]}"; do
    for router in "${routers[@]}"; do
        [[ -e "$out/$router.skipped" ]] && continue
        echo "routing: workload $workload through $router"
        if run_one "$router" "$workload"; then
            :
        elif (( $? == 3 )); then
            echo "routing: skipped $router: $(cat "$out/$router.skipped")"
        else
            echo "routing: $router on workload $workload failed; its row will say so (logs in $out)" >&2
        fi
    done
done
elapsed=$((SECONDS - started))

"$py" benchmarks/routing/report.py "$out" "$WORKLOADS" "${routers[@]}" > "$out/results.md"
echo
cat "$out/results.md"
echo
echo "routing: ${elapsed}s; results in $out/results.md, per-run JSON and logs beside it"

# --- record ------------------------------------------------------------------------------------------
bench_record_begin || exit 0   # sets results, git_rev, cpu_model
{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — routing: switchyard policies vs sglang-router cache_aware on 4 simulated replicas"
    echo
    echo "- command: \`BIN=$BIN ${SIM_BIN:+$([[ "$SIM_BIN" != "$BIN" ]] && echo "SIM_BIN=$SIM_BIN ")}POLICIES=$POLICIES WORKLOADS=$WORKLOADS SGLANG=$SGLANG WARMUP=$WARMUP DURATION=$DURATION LOAD=$LOAD SPEEDUP=$SPEEDUP CACHE_BLOCKS=$CACHE_BLOCKS MAX_TOKENS=$MAX_TOKENS SEED=$SEED PORT_BASE=$PORT_BASE $invocation\`"
    echo "- fleet: \`switchyard sim --replicas $REPLICAS --speedup $SPEEDUP --cache-blocks $CACHE_BLOCKS\` (other settings default), fresh for every (router, workload) run"
    echo "- load: open loop, Poisson arrivals from seed $SEED (the same schedule through every router), streaming chat, \`max_tokens\` $MAX_TOKENS, $WARMUP s of warm-up arrivals (sent, not measured) then $DURATION s measured, at $LOAD × the fleet's cold-cache capacity; TTFT = time to the first content chunk"
    echo "- routers: \`switchyard serve --policy P --no-access-log\`; sglang-router $SGLANG_ROUTER_VERSION \`--policy cache_aware\` (launcher defaults: cache_threshold 0.3, balance_abs 64, balance_rel 1.5)"
    echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r), load average at start $load_at_start; whole benchmark ${elapsed}s"
    echo "- versions: switchyard $git_rev, $(swift --version 2>/dev/null | head -n 1 || echo 'swift unknown'), $("$py" --version), aiohttp $AIOHTTP_VERSION"
    echo
    cat "$out/results.md"
} >> "$results"
echo "routing: appended to $results"
