#!/usr/bin/env python3
"""Open-loop streaming load for the routing benchmark: one workload through one router, one JSON result.

Run by benchmarks/routing/run.sh once per (router, workload), against a fresh fleet of simulated replicas.
The schedule (arrival times, prompts, conversations) depends only on the workload and --seed, so every
router gets the same requests at the same offsets. While the load runs, each replica's /metrics is sampled
every --sample-ms for its in-flight load; its prefix-cache counters are read when the warm-up ends (the
first --warmup seconds of arrivals are sent but not measured) and after the last request.

    loadgen.py --workload a --router-url http://127.0.0.1:P --replica-url http://127.0.0.1:9001 ... \
               --duration 20 --speedup 2 --out result.json
    loadgen.py --describe --workload a ...    # print the schedule's size and rate, send nothing

Workloads:
  a  shared prefixes: 32 system prompts of ~8 KB (~2k tokens), Zipf popularity, + a unique short question
  b  multi-turn: conversations arrive as a Poisson process; each has its own ~4 KB first user message and
     several turns; a turn resends the history + the previous answer + a new user message, and is sent a
     short think time after the previous answer finished
  c  hot spot: system prompt 0 carries half the requests, the other half is workload a over prompts 1..31
"""
import argparse
import asyncio
import json
import random
import sys
import time

import aiohttp

MODEL = "sim-llama"                # what `switchyard sim` serves by default
BYTES_PER_TOKEN = 4                # the sim's prompt-length rule (docs/SIM.md)
SYSTEM_PROMPTS = 32
SYSTEM_PROMPT_BYTES = 8192         # 2,048 tokens = 128 blocks of 16
ZIPF_S = 1.0                       # popularity of prompt k ∝ 1/k^s
HOT_SHARE = 0.5                    # workload c: share of requests on prompt 0
FIRST_MESSAGE_BYTES = 4096         # workload b: each conversation's own opening message (~1k tokens)
FOLLOW_UP_BYTES = 1024             # workload b: each later user message (~256 tokens)
TURNS = (3, 6)                     # workload b: turns per conversation, uniform inclusive
# Workload b: pause between an answer's end and the next turn, uniform. Short, so that the conversations
# in progress at once (arrival rate × lifetime) fit in the fleet's caches, though not in one replica's.
THINK_S = (0.1, 0.3)
ANSWER_BYTES_PER_TOKEN = 8         # the sim's fake tokens (" cache17") average about this; for the rate estimate
CLIENT_TIMEOUT_S = 60              # per request; a request still unfinished then is an error
DRAIN_TIMEOUT_S = 30               # after the arrival window, how long in-flight work may still take
# The sim's cost model (docs/SIM.md defaults), for the capacity estimate: a step that prefills costs
# stepOverhead + tokens × prefill; decode adds per-batch-slot time on top of a shared base.
STEP_OVERHEAD_MS = 2.0
DECODE_SLOT_MS = 0.05

WORDS = ("the of and to in is that for it as with was on be by at this are from or have an not which but "
         "cache token router replica prefix batch decode prefill latency stream queue fleet model prompt "
         "request answer system user turn window budget context memory block engine worker policy").split()


def text(rng, nbytes, head):
    """Deterministic filler of about nbytes bytes that starts with head (so different heads differ in
    their first KV block)."""
    parts, size = [head], len(head)
    while size < nbytes:
        w = rng.choice(WORDS)
        parts.append(w)
        size += len(w) + 1
    return " ".join(parts)[:nbytes]


def zipf_picker(rng, n, s):
    weights = [1 / (k + 1) ** s for k in range(n)]
    cum, total = [], 0.0
    for w in weights:
        total += w
        cum.append(total)

    def pick():
        x = rng.random() * total
        lo, hi = 0, n - 1
        while lo < hi:
            mid = (lo + hi) // 2
            if cum[mid] < x:
                lo = mid + 1
            else:
                hi = mid
        return lo
    return pick


# --- schedules ------------------------------------------------------------------------------------------
# A schedule is a list of sessions: (start offset s, [turn, ...]). A turn is the new user message; a
# session of one turn is a single request. The system prompt (if any) heads every turn's messages.

def build_schedule(workload, seed, rate_for_mean_prompt, duration, max_tokens):
    """rate_for_mean_prompt(mean_prompt_tokens, turns_per_session) → sessions per second."""
    rng = random.Random(f"{workload}-{seed}")
    systems = [text(random.Random(f"system-{k}"), SYSTEM_PROMPT_BYTES,
                    f"System prompt {k:02d}. You are assistant number {k} of the Switchyard fleet.")
               for k in range(SYSTEM_PROMPTS)]
    sessions = []
    if workload in ("a", "c"):
        pick_all = zipf_picker(rng, SYSTEM_PROMPTS, ZIPF_S)
        pick_rest = zipf_picker(rng, SYSTEM_PROMPTS - 1, ZIPF_S)
        mean_prompt = (SYSTEM_PROMPT_BYTES + 80) / BYTES_PER_TOKEN
        rate = rate_for_mean_prompt(mean_prompt, 1)
        t, i = 0.0, 0
        while True:
            t += rng.expovariate(rate)
            if t >= duration:
                break
            if workload == "a":
                k = pick_all()
            else:
                k = 0 if rng.random() < HOT_SHARE else 1 + pick_rest()
            question = f"Question {i} for prompt {k}: " + text(rng, 40, "")
            sessions.append({"t": t, "system": k, "turns": [question]})
            i += 1
        return systems, sessions, rate
    if workload == "b":
        # The conversations' lengths first, to size the rate from them; then their arrival times.
        turn_counts = [rng.randint(*TURNS) for _ in range(2000)]
        mean_turns = sum(turn_counts) / len(turn_counts)
        # Prompt of turn j (0-based): first message + j × (answer + follow-up).
        def prompt_tokens(j):
            return (FIRST_MESSAGE_BYTES + j * (FOLLOW_UP_BYTES + max_tokens * ANSWER_BYTES_PER_TOKEN)) / BYTES_PER_TOKEN
        mean_prompt = sum(sum(prompt_tokens(j) for j in range(n)) for n in turn_counts) / sum(turn_counts)
        rate = rate_for_mean_prompt(mean_prompt, mean_turns)
        t, c = 0.0, 0
        while True:
            t += rng.expovariate(rate)
            if t >= duration:
                break
            n = turn_counts[c % len(turn_counts)]
            turns = [text(rng, FIRST_MESSAGE_BYTES, f"Conversation {c} opens: I need help with case {c}.")]
            for j in range(1, n):
                turns.append(text(rng, FOLLOW_UP_BYTES, f"Conversation {c}, follow-up {j}:"))
            think = [rng.uniform(*THINK_S) for _ in range(n)]
            sessions.append({"t": t, "system": None, "turns": turns, "think": think})
            c += 1
        return systems, sessions, rate
    raise SystemExit(f"loadgen: unknown workload {workload!r} (a, b or c)")


# --- one streaming request ------------------------------------------------------------------------------

async def stream_chat(http, url, messages, max_tokens, want_text):
    """→ dict(ok, status, ttft_s, total_s, tokens, error, answer)."""
    body = {"model": MODEL, "stream": True, "max_tokens": max_tokens, "messages": messages}
    r = {"ok": False, "status": 0, "ttft_s": None, "total_s": None, "tokens": 0, "error": None, "answer": ""}
    answer, done = [], False
    t0 = time.monotonic()
    try:
        async with http.post(url, json=body, timeout=aiohttp.ClientTimeout(total=CLIENT_TIMEOUT_S)) as resp:
            r["status"] = resp.status
            if resp.status != 200:
                r["error"] = f"http {resp.status}"
                await resp.read()
                return r
            async for line in resp.content:
                if not line.startswith(b"data:"):
                    continue
                payload = line[5:].strip()
                if payload == b"[DONE]":
                    done = True
                    break
                if b'"error"' in payload[:12]:
                    r["error"] = "error event"
                    break
                i = payload.find(b'"content":"')
                if i < 0 or payload[i + 11:i + 12] == b'"':
                    continue    # the role chunk, the finish chunk, a usage chunk
                if r["ttft_s"] is None:
                    r["ttft_s"] = time.monotonic() - t0
                r["tokens"] += 1   # the sim sends one token per content chunk
                if want_text:
                    for ch in json.loads(payload).get("choices") or []:
                        answer.append((ch.get("delta") or {}).get("content") or "")
    except asyncio.TimeoutError:
        r["error"] = "timeout"
    except aiohttp.ClientError as e:
        r["error"] = f"{type(e).__name__}"
    r["total_s"] = time.monotonic() - t0
    if r["error"] is None:
        if not done:
            r["error"] = "no [DONE]"
        elif r["ttft_s"] is None:
            r["error"] = "no content"
        else:
            r["ok"] = True
    r["answer"] = "".join(answer)
    return r


async def run_session(http, url, systems, s, t_start, max_tokens, results, in_progress):
    await asyncio.sleep(max(0.0, t_start + s["t"] - time.monotonic()))
    in_progress[0] += 1
    try:
        await converse(http, url, systems, s, t_start, max_tokens, results)
    finally:
        in_progress[0] -= 1


async def converse(http, url, systems, s, t_start, max_tokens, results):
    messages = []
    if s["system"] is not None:
        messages.append({"role": "system", "content": systems[s["system"]]})
    multi = len(s["turns"]) > 1
    for j, user in enumerate(s["turns"]):
        if j > 0:
            await asyncio.sleep(s["think"][j])
        messages.append({"role": "user", "content": user})
        at = time.monotonic() - t_start
        r = await stream_chat(http, url, messages, max_tokens, want_text=multi)
        r["turn"], r["at_s"] = j, at
        results.append(r)
        if not r["ok"]:
            return      # the conversation cannot go on without its answer
        messages.append({"role": "assistant", "content": r.pop("answer")})


# --- replica metrics ------------------------------------------------------------------------------------

def metric_sum(page, name):
    total = 0.0
    for line in page.splitlines():
        if line.startswith(name) and (line[len(name)] in "{ "):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def scrape(http, replica_urls):
    async def one(u):
        async with http.get(u + "/metrics", timeout=aiohttp.ClientTimeout(total=2)) as resp:
            return await resp.text()
    return await asyncio.gather(*(one(u) for u in replica_urls), return_exceptions=True)


async def sample_load(http, replica_urls, period_s, samples, sessions, in_progress, stop):
    """Appends one [load of replica i ...] per period (vllm:num_requests_running + _waiting) to samples,
    and the count of sessions (conversations) in progress to sessions."""
    while not stop.is_set():
        sessions.append(in_progress[0])
        pages = await scrape(http, replica_urls)
        if not any(isinstance(p, BaseException) for p in pages):
            samples.append([metric_sum(p, "vllm:num_requests_running") + metric_sum(p, "vllm:num_requests_waiting")
                            for p in pages])
        try:
            await asyncio.wait_for(stop.wait(), period_s)
        except asyncio.TimeoutError:
            pass


async def cache_counters(http, replica_urls):
    pages = await scrape(http, replica_urls)
    for p in pages:
        if isinstance(p, BaseException):
            raise RuntimeError(f"could not read a replica's /metrics: {p!r}")
    return {"hits": sum(metric_sum(p, "vllm:prefix_cache_hits_total") for p in pages),
            "queries": sum(metric_sum(p, "vllm:prefix_cache_queries_total") for p in pages),
            "per_replica_queries": [metric_sum(p, "vllm:prefix_cache_queries_total") for p in pages]}


# --- main -----------------------------------------------------------------------------------------------

def capacity_rate(args):
    """Sessions per second at args.load × the fleet's cold-cache capacity: a replica prefills
    1000/prefill_ms_per_1k × speedup thousand tokens per second, so a request of P prompt tokens, none of
    them cached, takes P × prefill + the step overhead + its decode slots of one replica's time."""
    def rate(mean_prompt_tokens, turns_per_session):
        per_request_s = (STEP_OVERHEAD_MS + mean_prompt_tokens * args.prefill_ms_per_1k / 1000
                         + args.max_tokens * DECODE_SLOT_MS) / 1000 / args.speedup
        fleet_rps = args.replicas / per_request_s
        return args.load * fleet_rps / turns_per_session
    return rate


async def main_async(args):
    arrivals_s = args.warmup + args.duration
    systems, sessions, rate = build_schedule(args.workload, args.seed, capacity_rate(args), arrivals_s,
                                            args.max_tokens)
    n_requests = sum(len(s["turns"]) for s in sessions)
    plan = {"workload": args.workload, "sessions": len(sessions), "requests_planned": n_requests,
            "session_rate": rate, "request_rate": n_requests / arrivals_s, "warmup_s": args.warmup}
    if args.describe:
        print(json.dumps(plan))
        return
    url = args.router_url.rstrip("/") + "/v1/chat/completions"
    replicas = [u.rstrip("/") for u in args.replica_url]
    connector = aiohttp.TCPConnector(limit=0, force_close=False)
    async with aiohttp.ClientSession(connector=connector) as http:
        samples, session_samples, results, stop, in_progress = [], [], [], asyncio.Event(), [0]
        t_start = time.monotonic() + 0.2
        tasks = [asyncio.create_task(run_session(http, url, systems, s, t_start, args.max_tokens, results, in_progress))
                 for s in sessions]
        # The warm-up's requests are sent like the others but left out of every figure: the measured window
        # starts with the caches as the policy has filled them, not empty.
        await asyncio.sleep(max(0.0, t_start + args.warmup - time.monotonic()))
        before = await cache_counters(http, replicas)
        sampler = asyncio.create_task(sample_load(http, replicas, args.sample_ms / 1000, samples, session_samples,
                                                  in_progress, stop))
        done, pending = await asyncio.wait(tasks, timeout=args.duration + DRAIN_TIMEOUT_S + 0.2)
        for t in pending:
            t.cancel()
        wall = time.monotonic() - t_start
        stop.set()
        await sampler
        await asyncio.sleep(0.2)   # the replicas count a request's last tokens at its end
        after = await cache_counters(http, replicas)
    measured = [r for r in results if r["at_s"] >= args.warmup]
    ok = [r for r in measured if r["ok"]]
    errors = {}
    for r in results:
        if not r["ok"]:
            kind = r["error"] if r["at_s"] >= args.warmup else f"{r['error']} (in the warm-up)"
            errors[kind] = errors.get(kind, 0) + 1
    if pending:
        errors["unfinished at drain timeout"] = len(pending)
    queries = after["queries"] - before["queries"]
    result = {
        **plan,
        "wall_s": wall,
        # From the end of the warm-up to the last measured request's end.
        "measured_s": max((r["at_s"] + r["total_s"] for r in measured), default=args.warmup) - args.warmup,
        "sent": len(measured),
        "ok": len(ok),
        "errors": errors,
        "ttft_s": sorted(r["ttft_s"] for r in ok),
        "output_tokens": sum(r["tokens"] for r in ok),
        "hit_rate": (after["hits"] - before["hits"]) / queries if queries else None,
        "prompt_tokens": queries,
        "replica_prompt_share": [(a - b) / queries if queries else None
                                 for a, b in zip(after["per_replica_queries"], before["per_replica_queries"])],
        "load_samples": samples,
        "sessions_in_progress": session_samples,
        # Every request, warm-up included, for looking into a tail: send offset, turn, TTFT, tokens, error.
        "requests": [[round(r["at_s"], 4), r["turn"], r["ttft_s"] and round(r["ttft_s"], 5), r["tokens"], r["error"]]
                     for r in sorted(results, key=lambda r: r["at_s"])],
    }
    with open(args.out, "w") as f:
        json.dump(result, f)
    print(f"loadgen: workload {args.workload}: {len(ok)}/{len(measured)} ok after the warm-up, {len(sessions)} sessions, "
          f"hit rate {result['hit_rate'] if result['hit_rate'] is None else round(result['hit_rate'], 3)}, "
          f"{wall:.1f} s", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--workload", required=True, choices=["a", "b", "c"])
    ap.add_argument("--router-url", default="")
    ap.add_argument("--replica-url", action="append", default=[], help="a replica's base URL, once per replica")
    ap.add_argument("--replicas", type=int, default=4, help="for the capacity estimate (defaults to the count of --replica-url)")
    ap.add_argument("--duration", type=float, default=20, help="seconds of measured arrivals, after the warm-up")
    ap.add_argument("--warmup", type=float, default=5, help="seconds of arrivals first, sent but not measured")
    ap.add_argument("--load", type=float, default=0.7, help="fraction of the fleet's cold-cache capacity")
    ap.add_argument("--speedup", type=float, default=1, help="the sims' --speedup")
    ap.add_argument("--prefill-ms-per-1k", type=float, default=50.0, help="the sims' --prefill-ms-per-1k")
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--sample-ms", type=float, default=100)
    ap.add_argument("--out", default="result.json")
    ap.add_argument("--describe", action="store_true", help="print the schedule's size and rate, send nothing")
    args = ap.parse_args()
    if args.replica_url:
        args.replicas = len(args.replica_url)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
