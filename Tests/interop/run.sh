#!/usr/bin/env bash
# Interop tests: the release binary as `sim` (two replicas) behind `serve`, driven on loopback by the
# official OpenAI Python client and by curl. Prints PASS/FAIL lines and a closing count; exits non-zero
# on any failure. Every process it starts is stopped by PID on exit.
#
#   Tests/interop/run.sh                     # after `swift build -c release`
#   SWITCHYARD_BIN=path/to/switchyard Tests/interop/run.sh
#
# Checks:
#   openai  the Python client streams a chat completion and a completion (more than one content chunk,
#           finish_reason set), makes non-streaming calls, lists models (openai_stream.py)
#   sse     curl -N sees a streamed answer arrive spread over time through the router, like it does
#           straight from a replica, and end with `data: [DONE]`
#   errors  malformed JSON -> 400 and unknown path -> 404, each with an OpenAI-style {"error":{...}} body
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

BIN=${SWITCHYARD_BIN:-.build/release/switchyard}
VENV=${INTEROP_VENV:-.build/interop-venv}
MODEL=sim-llama
REQUIREMENTS=Tests/interop/requirements.txt

# Bounds, in seconds. Nothing here waits without one.
readonly STARTUP_TIMEOUT=20      # from spawn until a server answers
readonly REQUEST_TIMEOUT=15      # one curl request, including a whole streamed answer (~0.3 s here)
readonly CLIENT_SUITE_TIMEOUT=180
readonly PIP_TIMEOUT=300
readonly STOP_GRACE=5            # SIGTERM, then this long, then SIGKILL

# A streamed answer counts as unbuffered when the router spreads its events over at least this share
# of the time the replica itself took; a buffering proxy delivers them all at once (share ~0).
readonly MIN_SPREAD_SHARE=0.5
# Below this the replica is too fast for spread to tell streaming from buffering.
readonly MIN_REPLICA_SPREAD=0.10
readonly SSE_MAX_TOKENS=32

passed=0
failed=0
pids=()
workdir=$(mktemp -d "${TMPDIR:-/tmp}/switchyard-interop.XXXXXX")

pass() { passed=$((passed + 1)); echo "PASS $*"; }
fail() { failed=$((failed + 1)); echo "FAIL $*"; }

stop_all() {
    local pid deadline
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
    deadline=$((SECONDS + STOP_GRACE))
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            echo "interop: pid $pid ignored SIGTERM for ${STOP_GRACE}s; sending SIGKILL" >&2
            kill -KILL "$pid" 2>/dev/null || true
        fi
        wait "$pid" 2>/dev/null || true
    done
    pids=()
}

show_logs() {
    local log
    for log in "$workdir"/*.log; do
        [[ -s "$log" ]] || continue
        echo "---- last lines of $(basename "$log") ----"
        tail -n 40 "$log"
    done
}

on_exit() {
    local status=$?
    stop_all
    if (( status != 0 || failed != 0 )); then show_logs; fi
    rm -rf "$workdir"
    exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT TERM

# wait_until_up NAME PID URL [WANT_CODE]: polls URL until it answers (with WANT_CODE if given), the
# process dies, or STARTUP_TIMEOUT passes.
wait_until_up() {
    local name=$1 pid=$2 url=$3 want=${4:-} code deadline=$((SECONDS + STARTUP_TIMEOUT))
    while (( SECONDS < deadline )); do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "interop: $name (pid $pid) exited during startup" >&2
            return 1
        fi
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$url" || true)
        if [[ -n "$want" && "$code" == "$want" ]] || [[ -z "$want" && "$code" != "000" ]]; then
            return 0
        fi
        sleep 0.1
    done
    echo "interop: $name not up at $url within ${STARTUP_TIMEOUT}s (last status ${code:-none}, want ${want:-any})" >&2
    return 1
}

# ensure_venv: a venv with the pinned OpenAI client, rebuilt when requirements.txt changes.
ensure_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want=$(sha256sum "$REQUIREMENTS" | cut -d' ' -f1)
    if [[ -x "$VENV/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
        return 0
    fi
    echo "interop: creating $VENV with $(grep -E '^openai==' "$REQUIREMENTS")"
    rm -rf "$VENV"
    mkdir -p "$(dirname "$VENV")"
    if ! python3 -m venv "$VENV" \
        || ! timeout "$PIP_TIMEOUT" "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
                 --no-input -r "$REQUIREMENTS"; then
        rm -rf "$VENV"
        echo "interop: could not create the client venv (python3 -m venv, then pip install -r $REQUIREMENTS)" >&2
        return 1
    fi
    echo "$want" > "$stamp"
}

# sse_timeline URL OUT: streams a chat completion from URL, writing "<epoch seconds> <line>" for each
# line as it arrives (curl -N: no output buffering on our side).
sse_timeline() {
    local url=$1 out=$2
    local body="{\"model\":\"$MODEL\",\"stream\":true,\"max_tokens\":$SSE_MAX_TOKENS,\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a long story about a railway switchyard.\"}]}"
    curl -sS -N --fail --max-time "$REQUEST_TIMEOUT" -H 'content-type: application/json' -d "$body" "$url" |
        while IFS= read -r line; do printf '%s %s\n' "$EPOCHREALTIME" "${line%$'\r'}"; done > "$out"
}

# timeline_summary FILE: prints "<data lines> <seconds from first to last data line> <last data line>".
timeline_summary() {
    awk '$2 == "data:" {
             n++; if (n == 1) first = $1; last = $1
             line = $0; sub(/^[^ ]+ /, "", line); final = line
         }
         END { printf "%d %.3f %s\n", n, (n ? last - first : 0), final }' "$1"
}

check_sse() {
    local replica_url=$1 router_url=$2 direct routed n_direct spread_direct n_routed spread_routed final
    direct=$(sse_timeline "$replica_url" "$workdir/sse-direct.txt" && timeline_summary "$workdir/sse-direct.txt") \
        || { fail "sse: streaming straight from the replica failed"; return; }
    routed=$(sse_timeline "$router_url" "$workdir/sse-routed.txt" && timeline_summary "$workdir/sse-routed.txt") \
        || { fail "sse: streaming through the router failed"; return; }
    read -r n_direct spread_direct _ <<< "$direct"
    read -r n_routed spread_routed final <<< "$routed"
    local detail="router: $n_routed events over ${spread_routed}s; replica direct: $n_direct events over ${spread_direct}s"

    if [[ "$final" == "data: [DONE]" ]]; then
        pass "sse: stream ends with data: [DONE] ($n_routed data lines)"
    else
        fail "sse: last data line is '${final}', want 'data: [DONE]'"
    fi
    if (( n_routed < 3 )); then
        fail "sse: only $n_routed data lines through the router ($detail)"
    elif awk -v s="$spread_direct" -v min="$MIN_REPLICA_SPREAD" 'BEGIN { exit !(s < min) }'; then
        fail "sse: the replica streamed too fast to judge buffering ($detail; need >= ${MIN_REPLICA_SPREAD}s)"
    elif awk -v r="$spread_routed" -v d="$spread_direct" -v k="$MIN_SPREAD_SHARE" 'BEGIN { exit !(r >= k * d) }'; then
        pass "sse: events arrive incrementally ($detail)"
    else
        fail "sse: events bunched up by the router ($detail; want >= ${MIN_SPREAD_SHARE} of the replica's spread)"
    fi
}

# check_error NAME WANT_CODE CURL_ARGS...: the status is WANT_CODE and the body is {"error":{...}}.
check_error() {
    local name=$1 want=$2 code; shift 2
    code=$(curl -sS -o "$workdir/error-body.json" -w '%{http_code}' --max-time "$REQUEST_TIMEOUT" "$@" || true)
    if [[ "$code" != "$want" ]]; then
        fail "errors: $name -> HTTP $code, want $want (body: $(head -c 300 "$workdir/error-body.json" 2>/dev/null))"
    elif python3 -c 'import json, sys
doc = json.load(open(sys.argv[1]))
sys.exit(0 if isinstance(doc.get("error"), dict) and isinstance(doc["error"].get("message"), str) else 1)' \
            "$workdir/error-body.json" 2>/dev/null; then
        pass "errors: $name -> $code with an OpenAI-style error body"
    else
        fail "errors: $name -> $code but the body is not {\"error\":{\"message\":...}}: $(head -c 300 "$workdir/error-body.json")"
    fi
}

# --- start the fleet -------------------------------------------------------------------------------

if [[ ! -x "$BIN" ]]; then
    fail "setup: $BIN not found; build it first (make build)"
    exit 1
fi
if ! ensure_venv; then
    fail "setup: OpenAI client venv"
    exit 1
fi

base=$(scripts/free-ports.py 3)
sim_port=$base           # replicas on sim_port and sim_port+1
router_port=$((base + 2))
router="http://127.0.0.1:$router_port"

"$BIN" sim --port "$sim_port" --replicas 2 --model "$MODEL" > "$workdir/sim.log" 2>&1 &
sim_pid=$!
pids+=("$sim_pid")
"$BIN" serve --listen "127.0.0.1:$router_port" \
    --replica "http://127.0.0.1:$sim_port" --replica "http://127.0.0.1:$((sim_port + 1))" \
    > "$workdir/serve.log" 2>&1 &
serve_pid=$!
pids+=("$serve_pid")

if wait_until_up "sim replica 1" "$sim_pid" "http://127.0.0.1:$sim_port/v1/models" \
    && wait_until_up "sim replica 2" "$sim_pid" "http://127.0.0.1:$((sim_port + 1))/v1/models" \
    && wait_until_up "serve" "$serve_pid" "$router/readyz" 200; then
    pass "setup: sim on :$sim_port and :$((sim_port + 1)), serve on :$router_port, /readyz 200"
else
    fail "setup: fleet did not come up"
    exit 1
fi

# --- (a) the official OpenAI client ----------------------------------------------------------------

set +e
timeout "$CLIENT_SUITE_TIMEOUT" "$VENV/bin/python" Tests/interop/openai_stream.py \
    --base-url "$router/v1" --model "$MODEL" > "$workdir/openai.out" 2>&1
client_status=$?
set -e
cat "$workdir/openai.out"
passed=$((passed + $(grep -c '^PASS ' "$workdir/openai.out" || true)))
failed=$((failed + $(grep -c '^FAIL ' "$workdir/openai.out" || true)))
if (( client_status != 0 )) && ! grep -q '^FAIL ' "$workdir/openai.out"; then
    fail "openai: client suite exited with status $client_status (124 = timed out after ${CLIENT_SUITE_TIMEOUT}s)"
fi

# --- (b) SSE arrives incrementally and ends with [DONE] ---------------------------------------------

check_sse "http://127.0.0.1:$sim_port/v1/chat/completions" "$router/v1/chat/completions"

# --- (c) errors ---------------------------------------------------------------------------------------

check_error "malformed JSON" 400 -H 'content-type: application/json' \
    --data-binary '{"model": "sim-llama", "messages": [' "$router/v1/chat/completions"
check_error "unknown path" 404 "$router/v1/no-such-endpoint"

echo "interop: $passed passed, $failed failed"
(( failed == 0 ))
