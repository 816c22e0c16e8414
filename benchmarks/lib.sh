# What the benchmarks' run scripts share (source it). Process handling: every background process a script
# starts is tracked by PID, stopped by PID (SIGTERM, a grace period, then SIGKILL), and stopped on any exit.
# Also bench_prepare (busy-machine warning, output folder) and bench_record_begin (the record's facts).
#
#   source benchmarks/lib.sh
#   bench_log_dir=$workdir      # optional: on a failing exit, the tail of every *.log there is printed
#   bench_remove_dir=$workdir   # optional: removed on exit
#   some-server ... & bench_track $!
#   bench_stop_pid "$pid"       # stops one now (and forgets it)
#
# The traps are set when this file is sourced; INT and TERM exit 130, which runs the EXIT trap.

BENCH_STOP_GRACE=${BENCH_STOP_GRACE:-5}   # seconds between SIGTERM and SIGKILL
bench_pids=()
bench_log_dir=""
bench_remove_dir=""

bench_track() { bench_pids+=("$1"); }

# bench_stop_pid PID: SIGTERM, wait up to BENCH_STOP_GRACE seconds, SIGKILL; reaps it and forgets it.
bench_stop_pid() {
    local pid=$1 deadline=$((SECONDS + BENCH_STOP_GRACE)) i
    if kill -TERM "$pid" 2>/dev/null; then
        while kill -0 "$pid" 2>/dev/null && (( SECONDS < deadline )); do sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
    for i in "${!bench_pids[@]}"; do [[ "${bench_pids[$i]}" == "$pid" ]] && unset 'bench_pids[i]'; done
    bench_pids=("${bench_pids[@]}")
}

bench_stop_all() {
    local pid
    for pid in "${bench_pids[@]}"; do bench_stop_pid "$pid"; done
}

bench_on_exit() {
    local status=$? log
    bench_stop_all
    if (( status != 0 )) && [[ -n "$bench_log_dir" ]]; then
        for log in "$bench_log_dir"/*.log; do [[ -s "$log" ]] && { echo "---- $log"; tail -n 20 "$log"; }; done
    fi
    [[ -z "$bench_remove_dir" ]] || rm -rf "$bench_remove_dir"
    exit "$status"
}
trap bench_on_exit EXIT
trap 'exit 130' INT TERM

# bench_prepare NAME MAX_LOADAVG: warns when the machine is already busier than MAX_LOADAVG (another
# build skews every figure); sets load_at_start (for the record) and out=benchmarks/out/NAME-<UTC time>,
# created.
bench_prepare() {
    if awk -v max="$2" '{ exit !($1 > max) }' /proc/loadavg; then
        echo "$1: warning: load average $(cut -d' ' -f1 /proc/loadavg) before starting; figures will be noisy" >&2
    fi
    load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
    out="benchmarks/out/$1-$(date -u +%Y%m%dT%H%M%SZ)"
    mkdir -p "$out"
}

# bench_record_begin: false unless RECORD=1 (`bench_record_begin || exit 0`); then sets what every record
# states: git_rev (marked when Sources/ has uncommitted changes), cpu_model, and results, the file to append to.
bench_record_begin() {
    (( ${RECORD:-1} == 1 )) || return 1
    results=benchmarks/RESULTS.md
    git_rev=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    [[ -z "$(git status --porcelain --untracked-files=no -- Sources Package.swift 2>/dev/null)" ]] \
        || git_rev+=" (with uncommitted changes in Sources/)"
    cpu_model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
}
