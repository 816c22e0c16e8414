#!/usr/bin/env bash
# Engine-metrics benchmark: (1) parse time of a ~100 KB vLLM page vs a String-lines baseline;
# (2) the router's CPU per scrape of N sim replicas (every 20 ms by default, to be measurable) vs engine_metrics off.
# Usage: benchmarks/engine-metrics/run.sh   (env: SWITCHYARD_BIN, REPLICAS=32, DURATION=10, INTERVAL_MS=20, RECORD=1)
# CPU time comes from /proc in clock ticks (10 ms): use enough replicas x duration / interval to be well above that.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SWITCHYARD_BIN:-$root/.build/release/switchyard}
replicas=${REPLICAS:-32}
duration=${DURATION:-10}
interval_ms=${INTERVAL_MS:-20}
out=$root/benchmarks/out/engine-metrics
mkdir -p "$out"

# (1) parse, compiled with the release flags of Package.swift
swiftc -Ounchecked -wmo -module-name ParseBench -o "$out/parse-bench" \
  "$root/Sources/Fleet/EngineMetricsParser.swift" "$root/Sources/Fleet/EngineLoad.swift" \
  "$root/Tests/FleetTests/EnginePages.swift" "$root/benchmarks/engine-metrics/main.swift"
parse=$("$out/parse-bench" 3)

# (2) scrape cost: router CPU (utime+stime from /proc) over DURATION s, scraping on and off
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
"$bin" sim --port 0 --replicas "$replicas" > "$out/sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait 2>/dev/null || true' EXIT
for _ in $(seq 50); do grep -q ' ports ' "$out/sim.log" && break; sleep 0.1; done
ports=$(sed -n 's/.* ports \([0-9,]*\) .*/\1/p' "$out/sim.log" | tr ',' ' ')
[ -n "$ports" ] || { echo "sim did not start:"; cat "$out/sim.log"; exit 1; }
first=${ports%% *}
urls=$(for p in $ports; do printf 'http://127.0.0.1:%d, ' "$p"; done)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
scraped() {   # $1 = admin port -> "scrapes failures" summed over replicas
  curl -s "http://127.0.0.1:$1/replicas" | python3 -c 'import json,sys
r=[x for p in json.load(sys.stdin)["pools"] for x in p["replicas"]]
print(sum(x["engine_scrapes_total"] for x in r), sum(x["engine_scrape_failures_total"] for x in r))'
}
measure() {   # $1 = on|off -> prints "CPU-seconds scrapes failures" of the router over DURATION s
  local port admin cfg="$out/router-$1.yaml"
  port=$(free_port); admin=$(free_port)
  printf 'listen: 127.0.0.1:%d\nadmin: {address: 127.0.0.1:%d}\naccess_log: false\nhealth: {enabled: false}\nengine_metrics: {enabled: %s, interval: %sms, stale_after: 2s}\npools:\n  p: {replicas: [%s]}\n' \
    "$port" "$admin" "$([ "$1" = on ] && echo true || echo false)" "$interval_ms" "${urls%, }" > "$cfg"
  "$bin" serve -c "$cfg" > "$out/router-$1.log" 2>&1 &
  local pid=$!
  sleep 1
  local t0 s0 t1 s1
  t0=$(cpu_ticks $pid); s0=$(scraped $admin)
  sleep "$duration"
  t1=$(cpu_ticks $pid); s1=$(scraped $admin)
  kill $pid; wait $pid 2>/dev/null || true
  echo "$(echo "scale=3; ($t1 - $t0) / $(getconf CLK_TCK)" | bc) $(( ${s1% *} - ${s0% *} )) $(( ${s1#* } - ${s0#* } ))"
}
read -r off _ _ <<< "$(measure off)"
read -r on scrapes failures <<< "$(measure on)"
page_bytes=$(curl -s "http://127.0.0.1:$first/metrics" | wc -c)
per_scrape=$(echo "scale=1; ($on - $off) * 1000000 / $scrapes" | bc)
core=$(echo "scale=2; ($on - $off) * 100 / $duration" | bc)
kill $sim; wait $sim 2>/dev/null || true
trap - EXIT

report=$(cat <<REPORT
## $(date -u '+%Y-%m-%d %H:%M') UTC — engine-metrics: parse and scrape cost

- command: \`REPLICAS=$replicas DURATION=$duration INTERVAL_MS=$interval_ms benchmarks/engine-metrics/run.sh\`
- parse: \`swiftc -Ounchecked -wmo\` (the release flags) of EngineMetricsParser against a baseline that splits the page into String lines; median of 9 rounds
- scrape: one \`switchyard serve\` (release, health checks and access log off) over $replicas sim replicas ($page_bytes-byte vLLM page each), engine_metrics on (every $interval_ms ms, one kept-alive connection per replica) vs off, router CPU (utime+stime) over $duration s; scrapes counted by the router (admin \`engine_scrapes_total\`), $failures of them failed
- machine: $(nproc) CPUs, $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)
- versions: switchyard $(git -C "$root" rev-parse --short HEAD), $(swift --version 2>&1 | head -1)

\`\`\`
$parse
\`\`\`

| engine_metrics | router CPU in ${duration} s | scrapes | CPU per scrape | share of one core |
|---|---|---|---|---|
| off (baseline) | ${off} s | 0 | — | — |
| on, ${interval_ms} ms | ${on} s | ${scrapes} | ${per_scrape} us | ${core}% |
REPORT
)
echo "$report"
if [ "${RECORD:-1}" = 1 ]; then printf '\n%s\n' "$report" >> "$root/benchmarks/RESULTS.md"; fi
