#!/usr/bin/env bash
# Engine-metrics benchmark: (1) parse time of a ~100 KB vLLM page vs a String-lines baseline;
# (2) the router's CPU cost of scraping N sim replicas every 200 ms vs engine_metrics off, same run.
# Usage: benchmarks/engine-metrics/run.sh   (env: SWITCHYARD_BIN, REPLICAS=16, DURATION=10, RECORD=1)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=${SWITCHYARD_BIN:-$root/.build/release/switchyard}
replicas=${REPLICAS:-16}
duration=${DURATION:-10}
out=$root/benchmarks/out/engine-metrics
mkdir -p "$out"

# (1) parse, compiled with the release flags of Package.swift
swiftc -Ounchecked -wmo -module-name ParseBench -o "$out/parse-bench" \
  "$root/Sources/Fleet/EngineMetricsParser.swift" "$root/Sources/Fleet/EngineLoad.swift" \
  "$root/Tests/FleetTests/EnginePages.swift" "$root/benchmarks/engine-metrics/main.swift"
parse=$("$out/parse-bench" 3)

# (2) scrape cost: router CPU (utime+stime from /proc) over DURATION s, scraping on and off
first=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
first=$((first % 20000 + 30000))
"$bin" sim --port "$first" --replicas "$replicas" > "$out/sim.log" 2>&1 &
sim=$!
trap 'kill $sim 2>/dev/null || true; wait 2>/dev/null || true' EXIT
sleep 1
urls=$(for i in $(seq 0 $((replicas - 1))); do printf 'http://127.0.0.1:%d, ' $((first + i)); done)
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
measure() {   # $1 = on|off -> prints CPU seconds used by the router in DURATION s
  local port=$((first + replicas + 10)) cfg="$out/router-$1.yaml"
  printf 'listen: 127.0.0.1:%d\naccess_log: false\nhealth: {enabled: false}\nengine_metrics: {enabled: %s}\npools:\n  p: {replicas: [%s]}\n' \
    "$port" "$([ "$1" = on ] && echo true || echo false)" "${urls%, }" > "$cfg"
  "$bin" serve -c "$cfg" > "$out/router-$1.log" 2>&1 &
  local pid=$!
  sleep 1
  local t0; t0=$(cpu_ticks $pid)
  sleep "$duration"
  local t1; t1=$(cpu_ticks $pid)
  kill $pid; wait $pid 2>/dev/null || true
  echo "scale=4; ($t1 - $t0) / $(getconf CLK_TCK)" | bc
}
off=$(measure off)
on=$(measure on)
scrapes=$(echo "$replicas * $duration * 5" | bc)
page_bytes=$(curl -s "http://127.0.0.1:$first/metrics" | wc -c)
per_scrape=$(echo "scale=2; ($on - $off) * 1000000 / $scrapes" | bc)
core=$(echo "scale=2; ($on - $off) * 100 / $duration" | bc)
kill $sim; wait $sim 2>/dev/null || true
trap - EXIT

report=$(cat <<REPORT
## $(date -u '+%Y-%m-%d %H:%M') UTC — engine-metrics: parse and scrape cost

- command: \`REPLICAS=$replicas DURATION=$duration benchmarks/engine-metrics/run.sh\`
- parse: \`swiftc -Ounchecked -wmo\` (the release flags) of EngineMetricsParser against a baseline that splits the page into String lines; median of 9 rounds
- scrape: one \`switchyard serve\` (release, health checks and access log off) over $replicas sim replicas ($page_bytes-byte vLLM page each), engine_metrics on (200 ms) vs off, router CPU (utime+stime) over $duration s
- machine: $(nproc) CPUs, $(uname -r), load average at start $(cut -d' ' -f1-3 /proc/loadavg)
- versions: switchyard $(git -C "$root" rev-parse --short HEAD), $(swift --version 2>&1 | head -1)

\`\`\`
$parse
\`\`\`

| engine_metrics | router CPU in ${duration} s | scrapes | CPU per scrape | share of one core |
|---|---|---|---|---|
| off (baseline) | ${off} s | 0 | — | — |
| on, 200 ms | ${on} s | ${scrapes} | ${per_scrape} us | ${core}% |
REPORT
)
echo "$report"
if [ "${RECORD:-1}" = 1 ]; then printf '\n%s\n' "$report" >> "$root/benchmarks/RESULTS.md"; fi
