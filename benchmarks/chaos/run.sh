#!/usr/bin/env bash
# Chaos: what clients see when one replica of four misbehaves (or all die), with the router's resilience
# (retries, health checks, outlier ejection, first-byte timeout) on and off — the baseline is "off",
# measured in the same run. Prints a table and appends it, dated, to benchmarks/RESULTS.md.
#
#   benchmarks/chaos/run.sh
#   REQUESTS=200 CONCURRENCY=16 SCENARIOS=baseline,hang RECORD=0 benchmarks/chaos/run.sh
#
# The work is in scenarios.py (fleet, router, faults, load); this wrapper picks the binary, keeps the
# raw output and records the result.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
source benchmarks/lib.sh
invocation="benchmarks/chaos/run.sh${*:+ $*}"

REQUESTS=${REQUESTS:-200}           # streaming chat requests per run
CONCURRENCY=${CONCURRENCY:-16}      # requests in flight at once
MAX_TOKENS=${MAX_TOKENS:-32}        # per request
CLIENT_TIMEOUT=${CLIENT_TIMEOUT:-10} # seconds; a request still unfinished then counts as a timeout (and failed)
# Simulated time: a 300 ms decode step divided by speedup 20 is 15 ms per token, so a 32-token answer takes
# about half a second and a 200-request run about 6 s — long enough for the kill/restart window to span
# a few health intervals, short enough that the whole benchmark stays within a few minutes.
SPEEDUP=${SPEEDUP:-20}
DECODE_MS=${DECODE_MS:-300}
SCENARIOS=${SCENARIOS:-baseline,always-500,hang,reset-mid-stream,429-storm,replica-killed,all-down}
RECORD=${RECORD:-1}                 # 0: print the table only, leave RESULTS.md alone
BIN=${SWITCHYARD_BIN:-.build/release/switchyard}

BENCH_STOP_GRACE=10                 # scenarios.py stops its own children within 5 s of SIGTERM

if [[ ! -x "$BIN" ]]; then
    echo "chaos: $BIN is not built (make build, or set SWITCHYARD_BIN)" >&2
    exit 1
fi
bench_prepare chaos 1.0   # sets out and load_at_start

started=$SECONDS
python3 benchmarks/chaos/scenarios.py --bin "$BIN" --out "$out" --requests "$REQUESTS" \
    --concurrency "$CONCURRENCY" --max-tokens "$MAX_TOKENS" --timeout "$CLIENT_TIMEOUT" \
    --speedup "$SPEEDUP" --decode-ms "$DECODE_MS" --scenarios "$SCENARIOS" > "$out/table.md" &
driver_pid=$!
bench_track "$driver_pid"   # stopped on exit; its children die with it (PR_SET_PDEATHSIG)
wait "$driver_pid"
bench_stop_pid "$driver_pid"
elapsed=$((SECONDS - started))

table=$(cat "$out/table.md")
echo
echo "$table"
echo
echo "chaos: ${elapsed}s; logs, configs and per-request results in $out"

# --- record ------------------------------------------------------------------------------------------
bench_record_begin || exit 0   # sets results, git_rev, cpu_model
[[ -f "$results" ]] || printf '# Benchmark results\n\nAppended by the benchmarks'"'"' run scripts, newest last. See benchmarks/README.md.\n' > "$results"
{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — chaos: one faulty replica of four, resilience off vs on"
    echo
    echo "- command: \`${SWITCHYARD_BIN:+SWITCHYARD_BIN=$SWITCHYARD_BIN }REQUESTS=$REQUESTS CONCURRENCY=$CONCURRENCY MAX_TOKENS=$MAX_TOKENS CLIENT_TIMEOUT=$CLIENT_TIMEOUT SPEEDUP=$SPEEDUP DECODE_MS=$DECODE_MS SCENARIOS=$SCENARIOS $invocation\`"
    echo "- load: $REQUESTS streaming chat requests (\`\"stream\":true, \"max_tokens\":$MAX_TOKENS\`), $CONCURRENCY at a time, one connection each, client timeout ${CLIENT_TIMEOUT}s; success = 200, at least one content event, \`data: [DONE]\`, no error event. TTFT = time to the first content event, over the requests that got one"
    echo "- fleet: 4 × \`switchyard sim --speedup $SPEEDUP --decode-ms $DECODE_MS\` (one process each), round-robin; the fault flags go to one of them; a fresh fleet and router for every row"
    echo "- resilience off: \`retry: {retries: 0}\`, \`health: {enabled: false}\`, \`outlier: {enabled: false}\` (first_byte stays 5m: the client timeout ends hung requests). On: defaults except \`timeouts: {first_byte: 2s}\` and \`health: {interval: 1s}\`, so a run of a few seconds shows their effect"
    echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r), load average at start $load_at_start; whole benchmark ${elapsed}s"
    echo "- versions: switchyard $git_rev, $(swift --version 2>/dev/null | head -n 1 || echo 'swift unknown'), $(python3 --version)"
    echo
    echo "$table"
} >> "$results"
echo "chaos: appended to $results"
