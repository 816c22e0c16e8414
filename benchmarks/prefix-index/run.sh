#!/usr/bin/env bash
# Prefix index: microseconds per routing decision for a 32 KB prompt — the index's step alone (hash, match,
# record) and the full decision the proxy makes (prepare, kv-aware pick, chose, charge, release) — against an
# index warmed to its 64 MiB cap, with 8 and 1,000 replicas, and hashing alone as the baseline, all in one run.
# Prints a table and appends it, dated, to benchmarks/RESULTS.md.
#
#   benchmarks/prefix-index/run.sh
#   RUNS=7 DECISIONS=2000 RECORD=0 SCRATCH=/tmp/sy-bench benchmarks/prefix-index/run.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
invocation="benchmarks/prefix-index/run.sh${*:+ $*}"

RUNS=${RUNS:-7}                 # every case runs once per round; the table shows the median round
DECISIONS=${DECISIONS:-2000}    # decisions timed per case per round
RECORD=${RECORD:-1}             # 0: print the table only, leave RESULTS.md alone
SCRATCH=${SCRATCH:-.build}      # SwiftPM scratch path of the release build
INDEX_MIB=${INDEX_MIB:-64}      # memory limit of each prefix index (PrefixIndex's default: 64)

swift build -c release --scratch-path "$SCRATCH" --product prefix-index-bench >&2
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
started=$(date +%s)
table=$("$SCRATCH/release/prefix-index-bench" --runs "$RUNS" --decisions "$DECISIONS" --index-mib "$INDEX_MIB")
echo "$table"

(( RECORD )) || exit 0
cpu_model=$(lscpu | sed -n 's/^Model name:[[:space:]]*//p' | head -n 1)
{
    echo
    echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — prefix-index: cost of a routing decision for a 32 KB prompt (index step and full decision)"
    echo
    echo "- command: \`RUNS=$RUNS DECISIONS=$DECISIONS INDEX_MIB=$INDEX_MIB $invocation\`"
    echo "- prefix index rows, timed per decision: BlockHashes.compute over a 32 KB prompt (64-byte blocks: 512 digests), PrefixIndex.matches, then record for the replica with the longest run (else the prompt's home replica); building the prompt text is not timed"
    echo "- full decision rows: what ProxyServer.pickReplica does, on a pool of that many replicas with the default policy (kv-aware): ReplicaPicker.prepare (the hashing), pick, Pool.begin, chose (record), Replica.charge, and release of the request that finishes as this one starts (2 in flight per replica); every replica has a fresh engine load (8–31 running, 0–5 waiting, KV cache 0–89% used)"
    echo "- index: PrefixIndex(memoryLimitBytes: $INDEX_MIB MiB), 4 replicas per block, warmed with the case's own traffic until full and then as many decisions again, so every timed decision evicts as it inserts"
    echo "- traffic: chat = 2,000 active sessions, prompt = one of 16 shared 4 KB app prefixes + 26 KB of the session's history + 2 KB new; unique = 32 KB never seen before (512 inserts and evictions per decision, the worst case)"
    echo "- figures: median over $RUNS interleaved rounds of the mean per decision; single-decision p50/p99 over all rounds; whole run $(( $(date +%s) - started )) s"
    echo "- machine: $(nproc) CPUs, ${cpu_model:-unknown CPU}, Linux $(uname -r), load average at start $load_at_start"
    echo "- versions: switchyard $(git rev-parse --short HEAD), $(swift --version 2>/dev/null | head -n 1 || echo 'swift unknown'), libxxhash $(dpkg-query -W -f='${Version}' libxxhash-dev 2>/dev/null || echo unknown)"
    echo
    echo "$table"
} >> benchmarks/RESULTS.md
echo "prefix-index: appended to benchmarks/RESULTS.md" >&2
