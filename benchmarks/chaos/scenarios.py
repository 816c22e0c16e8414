#!/usr/bin/env python3
"""Chaos scenarios: a fresh fleet of simulated replicas and a fresh router per (scenario, resilience) run,
one replica made faulty, a fixed streaming-chat load through the router, and a markdown table of the outcome.

Run through benchmarks/chaos/run.sh, which records the table in benchmarks/RESULTS.md. Every process this
script starts is its own child, stopped by PID when its run ends (and on any exit, including SIGTERM from
run.sh); each child also gets SIGKILL from the kernel if this script dies without cleaning up.

    scenarios.py --bin .build/release/switchyard --out DIR [--requests 200] [--concurrency 16] ...
"""
import argparse
import asyncio
import ctypes
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
REPLICAS = 4
FAULTY = 0                   # index of the replica that gets the scenario's fault flags
MODEL = "sim-llama"          # what `switchyard sim` serves by default
STARTUP_TIMEOUT_S = 10       # for a sim or the router to answer its health endpoint
STOP_GRACE_S = 5             # SIGTERM, then this long, then SIGKILL
# Resilience on probes every second, so the first probe round has run before the load starts; the same
# pause is taken with resilience off so both modes start from the same quiet fleet.
SETTLE_S = 1.5
# All-down: the replicas are killed this long before the load, longer than health's fall (3) × interval
# (1 s), so with resilience on the router already knows every replica is down.
ALL_DOWN_WAIT_S = 4.0

RESILIENCE_ON = """\
# Defaults, except a short first-byte timeout and a fast health interval so that a run of a few seconds
# shows their effect (defaults: first_byte 5m, health interval 5s).
timeouts: {first_byte: 2s}
health: {interval: 1s}
"""
RESILIENCE_OFF = """\
retry: {retries: 0}
health: {enabled: false}
outlier: {enabled: false}
"""


@dataclass
class Scenario:
    name: str
    faulty_flags: list = field(default_factory=list)  # sim flags for replica FAULTY
    kill_restart: bool = False   # SIGKILL replica FAULTY after 1/3 of the requests, restart it after 2/3
    all_down: bool = False       # kill every replica before the load


SCENARIOS = [
    Scenario("baseline"),
    Scenario("always-500", ["--fail-500", "1"]),
    Scenario("hang", ["--hang", "1"]),
    Scenario("reset-mid-stream", ["--reset-mid-stream", "1"]),
    Scenario("429-storm", ["--fail-429", "1"]),
    Scenario("replica-killed", kill_restart=True),
    Scenario("all-down", all_down=True),
]


# --- processes ------------------------------------------------------------------------------------------

def _die_with_parent():
    """Runs in the child before exec: the kernel SIGKILLs it if this script dies (PR_SET_PDEATHSIG)."""
    PR_SET_PDEATHSIG = 1
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Children:
    """The processes of one run, each stopped by its own PID."""

    def __init__(self):
        self.procs = []
        self.killed = set()   # PIDs this script SIGKILLed on purpose

    def died_on_their_own(self):
        """(argv, returncode) of every child that has exited without being stopped: a crash is a finding."""
        return [(p.args, p.returncode) for p in self.procs if p.poll() is not None and p.pid not in self.killed]

    def start(self, argv, log_path):
        log = open(log_path, "ab")
        p = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             preexec_fn=_die_with_parent)
        log.close()
        self.procs.append(p)
        return p

    def kill(self, p):
        """SIGKILL: the simulated crash."""
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
            self.killed.add(p.pid)
        p.wait()

    def stop_all(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_S
        for p in self.procs:
            try:
                p.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.send_signal(signal.SIGKILL)
                p.wait()
        self.procs.clear()


def free_ports(count):
    out = subprocess.run([str(REPO / "scripts/free-ports.py"), str(count)], check=True,
                         capture_output=True, text=True).stdout
    base = int(out.strip())
    return list(range(base, base + count))


def wait_http_ok(url, proc, what):
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    last = "no answer"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited during startup (status {proc.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return
                last = f"status {r.status}"
        except Exception as e:  # refused while starting, or an HTTP error status
            last = str(e)
        time.sleep(0.05)
    raise RuntimeError(f"{what} at {url} not ready within {STARTUP_TIMEOUT_S}s ({last})")


# --- one streaming request -------------------------------------------------------------------------------

@dataclass
class Outcome:
    kind: str = "no answer"    # "ok", or why not: "timeout", "http 500 <code>", "error event", "broken stream", ...
    status: int = 0
    answer_s: float = None     # until the response's status line
    ttft_s: float = None       # until the first event with non-empty content
    total_s: float = None
    done: bool = False         # saw `data: [DONE]`
    error_event: bool = False


class SSEEvents:
    """Fed the decoded body of an event stream in any split; notes content, errors and [DONE] as they arrive."""

    def __init__(self, outcome, t0):
        self.outcome, self.t0, self.buffer = outcome, t0, b""

    def feed(self, data):
        self.buffer += data
        while True:
            end = self.buffer.find(b"\n\n")
            if end < 0:
                return
            event, self.buffer = self.buffer[:end], self.buffer[end + 2:]
            for line in event.split(b"\n"):
                if line.startswith(b"data:"):
                    self._data(line[5:].strip())

    def _data(self, payload):
        o = self.outcome
        if payload == b"[DONE]":
            o.done = True
            return
        try:
            obj = json.loads(payload)
        except ValueError:
            o.error_event = True   # not an OpenAI chunk: count it as broken, never as success
            return
        if "error" in obj:
            o.error_event = True
            return
        for choice in obj.get("choices") or []:
            if (choice.get("delta") or {}).get("content") and o.ttft_s is None:
                o.ttft_s = time.monotonic() - self.t0


async def _exchange(port, body, o, t0):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write((f"POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\n"
                      f"content-type: application/json\r\ncontent-length: {len(body)}\r\n"
                      f"connection: close\r\n\r\n").encode() + body)
        await writer.drain()
        status_line = await reader.readline()
        if not status_line:
            o.kind = "closed before answer"
            return
        o.answer_s = time.monotonic() - t0
        o.status = int(status_line.split()[1])
        headers = {}
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip().lower()
        if o.status != 200:
            code = ""
            try:
                err = json.loads(await reader.read(65536)).get("error", {})
                # The router's own errors carry a named code (no_replica_available); a replica's is its status.
                if err.get("code") not in (None, o.status, str(o.status)):
                    code = f" {err.get('code')}"
            except (ValueError, AttributeError):
                pass
            o.kind = f"http {o.status}{code}"
            return
        events = SSEEvents(o, t0)
        if headers.get("transfer-encoding") == "chunked":
            while True:
                size_line = await reader.readline()
                if not size_line.endswith(b"\n"):
                    break                      # the stream ended without its last chunk
                size = int(size_line.split(b";")[0], 16)
                if size == 0:
                    break
                events.feed((await reader.readexactly(size + 2))[:-2])
        else:
            while chunk := await reader.read(65536):
                events.feed(chunk)
    finally:
        writer.close()


async def stream_chat(port, index, max_tokens, timeout_s):
    body = json.dumps({"model": MODEL, "stream": True, "max_tokens": max_tokens,
                       "messages": [{"role": "user", "content": f"chaos request {index}: tell me a story"}]}).encode()
    o, t0 = Outcome(), time.monotonic()
    try:
        await asyncio.wait_for(_exchange(port, body, o, t0), timeout_s)
    except asyncio.TimeoutError:
        o.kind = "timeout"
    except ConnectionRefusedError:
        o.kind = "router refused connection"
    except (ConnectionError, asyncio.IncompleteReadError, OSError):
        pass   # a broken stream; classified below from what arrived
    o.total_s = time.monotonic() - t0
    if o.kind == "no answer" and o.status == 200:
        if o.error_event:
            o.kind = "error event"
        elif not o.done:
            o.kind = "broken stream"
        elif o.ttft_s is None:
            o.kind = "no content"
        else:
            o.kind = "ok"
    return o


async def drive(port, args, on_progress):
    """args.requests requests, args.concurrency at a time; on_progress(completed) after each one."""
    results, next_index, completed = [None] * args.requests, 0, 0

    async def worker():
        nonlocal next_index, completed
        while next_index < args.requests:
            i = next_index
            next_index += 1
            results[i] = await stream_chat(port, i, args.max_tokens, args.timeout)
            completed += 1
            on_progress(completed)

    await asyncio.gather(*(worker() for _ in range(args.concurrency)))
    return results


# --- one run -----------------------------------------------------------------------------------------------

def percentile(values, p):
    """Nearest-rank percentile; None for no values."""
    if not values:
        return None
    s = sorted(values)
    return s[max(0, min(len(s) - 1, int(round(p / 100 * len(s) + 0.5)) - 1))]


def fmt_s(v):
    if v is None:
        return "—"
    if v < 0.01:
        return f"{v * 1000:.2f} ms"
    if v < 1:
        return f"{v * 1000:.0f} ms"
    return f"{v:.2f} s"


def router_log_summary(path):
    """Retries and outlier/health events as the router logged them (absent if its log format changes)."""
    retries = ejections = downs = 0
    for line in path.read_text(errors="replace").splitlines():
        if m := re.search(r"\bretries=(\d+)", line):
            retries += int(m.group(1))
        if re.search(r"\bejected\b", line) and "access" not in line:
            ejections += 1
        if re.search(r"\b(is )?down\b", line) and "access" not in line and "health" in line.lower():
            downs += 1
    parts = [f"{retries} retries"]
    if ejections:
        parts.append(f"{ejections} ejection log lines")
    if downs:
        parts.append(f"{downs} health-down log lines")
    return ", ".join(parts)


def run_once(scenario, resilient, args, out):
    mode = "on" if resilient else "off"
    tag = f"{scenario.name}-{mode}"
    kids = Children()
    try:
        ports = free_ports(REPLICAS + 1)
        sim_ports, router_port = ports[:REPLICAS], ports[REPLICAS]

        def sim_argv(i):
            flags = scenario.faulty_flags if i == FAULTY else []
            return [args.bin, "sim", "--port", str(sim_ports[i]), "--speedup", str(args.speedup),
                    "--decode-ms", str(args.decode_ms), "--seed", str(i + 1), *flags]

        sims = [kids.start(sim_argv(i), out / f"{tag}-sim{i}.log") for i in range(REPLICAS)]
        for i, p in enumerate(sims):
            wait_http_ok(f"http://127.0.0.1:{sim_ports[i]}/health", p, f"sim {i}")

        config = out / f"{tag}.yaml"
        config.write_text(f"listen: 127.0.0.1:{router_port}\npools:\n  sim:\n    replicas:\n"
                          + "".join(f"      - http://127.0.0.1:{p}\n" for p in sim_ports)
                          + (RESILIENCE_ON if resilient else RESILIENCE_OFF))
        check = subprocess.run([args.bin, "check-config", str(config)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"check-config rejected {config}: {(check.stderr or check.stdout).strip()}")
        router_log = out / f"{tag}-router.log"
        router = kids.start([args.bin, "serve", "-c", str(config)], router_log)
        wait_http_ok(f"http://127.0.0.1:{router_port}/healthz", router, "router")
        time.sleep(SETTLE_S)

        events = []
        t_start = time.monotonic()
        if scenario.all_down:
            for p in sims:
                kids.kill(p)
            time.sleep(ALL_DOWN_WAIT_S)
            t_start = time.monotonic()

        def on_progress(completed):
            if not scenario.kill_restart:
                return
            victim = sims[FAULTY]
            if completed == args.requests // 3:
                kids.kill(victim)
                events.append(f"killed at {time.monotonic() - t_start:.1f} s")
            elif completed == 2 * args.requests // 3:
                sims[FAULTY] = kids.start(sim_argv(FAULTY), out / f"{tag}-sim{FAULTY}.log")
                events.append(f"restarted at {time.monotonic() - t_start:.1f} s")

        results = asyncio.run(drive(router_port, args, on_progress))
        wall = time.monotonic() - t_start
        for argv, status in kids.died_on_their_own():
            who = "router" if argv[1] == "serve" else f"sim on port {argv[argv.index('--port') + 1]}"
            how = f"signal {-status}" if status < 0 else f"status {status}"
            events.append(f"**{who} exited on its own ({how})**")
    finally:
        kids.stop_all()

    with open(out / f"{tag}.jsonl", "w") as f:
        for i, o in enumerate(results):
            f.write(json.dumps({"i": i, **o.__dict__}) + "\n")

    ok = [o for o in results if o.kind == "ok"]
    ttfts = [o.ttft_s for o in results if o.ttft_s is not None]
    mix = {}
    for o in results:
        if o.kind != "ok":
            mix[o.kind] = mix.get(o.kind, 0) + 1
    notes = []
    if mix:
        notes.append("failed: " + ", ".join(f"{k} ×{n}" for k, n in sorted(mix.items(), key=lambda kv: -kv[1])))
    if scenario.all_down:
        answers = [o.answer_s for o in results if o.answer_s is not None]
        notes.append(f"time to answer p50 {fmt_s(percentile(answers, 50))}, p99 {fmt_s(percentile(answers, 99))}, "
                     f"max {fmt_s(max(answers) if answers else None)}")
    notes += events
    notes.append(router_log_summary(router_log))
    notes.append(f"run {wall:.1f} s")
    return {
        "scenario": scenario.name, "resilience": mode,
        "success": 100 * len(ok) / len(results),
        "ttft_p50": percentile(ttfts, 50), "ttft_p99": percentile(ttfts, 99),
        "timeouts": sum(o.kind == "timeout" for o in results),
        "notes": "; ".join(notes),
    }


def table(rows):
    lines = [
        "| scenario | resilience (on = defaults + first_byte 2s, health interval 1s) | success | TTFT p50 | TTFT p99 "
        "| client timeouts | notes |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(f"| {r['scenario']} | {r['resilience']} | {r['success']:.1f}% | {fmt_s(r['ttft_p50'])} | "
                     f"{fmt_s(r['ttft_p99'])} | {r['timeouts']} | {r['notes']} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the switchyard binary")
    ap.add_argument("--out", required=True, type=Path, help="directory for logs, configs and per-request results")
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--timeout", type=float, default=10.0, help="client timeout per request, seconds")
    ap.add_argument("--speedup", type=float, default=20)
    ap.add_argument("--decode-ms", type=float, default=300)
    ap.add_argument("--scenarios", default=",".join(s.name for s in SCENARIOS),
                    help="comma-separated subset, in the order given")
    args = ap.parse_args()
    by_name = {s.name: s for s in SCENARIOS}
    unknown = [n for n in args.scenarios.split(",") if n not in by_name]
    if unknown:
        sys.exit(f"chaos: unknown scenario(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
    args.out.mkdir(parents=True, exist_ok=True)
    # SIGTERM (from run.sh's exit trap) unwinds like Ctrl-C, so every run's `finally` stops its children.
    signal.signal(signal.SIGTERM, signal.default_int_handler)

    rows = []
    for name in args.scenarios.split(","):
        for resilient in (False, True):
            print(f"chaos: {name}, resilience {'on' if resilient else 'off'} ...", file=sys.stderr, flush=True)
            rows.append(run_once(by_name[name], resilient, args, args.out))
            print(f"chaos:   {rows[-1]['success']:.1f}% ok; {rows[-1]['notes']}", file=sys.stderr, flush=True)
    print(table(rows))


if __name__ == "__main__":
    main()
