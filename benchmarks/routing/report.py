#!/usr/bin/env python3
"""Renders the routing benchmark's tables (one per workload, one row per router) and its targets with
PASS/FAIL, from the JSON results loadgen.py wrote into a run's output directory.

    report.py DIR WORKLOADS ROUTER...      # e.g. report.py benchmarks/out/routing-… a,b,c round-robin sglang-router

A router's result for workload w is DIR/<router>-<w>.json; DIR/<router>.skipped holds why it did not run.
"""
import json
import sys
from pathlib import Path

WORKLOAD_TITLES = {
    "a": "(a) shared prefixes — 32 system prompts of ~2k tokens, Zipf popularity, unique short question",
    "b": "(b) multi-turn — each conversation resends its growing history, 3–6 turns",
    "c": "(c) hot spot — one system prompt carries half the requests, the rest like (a)",
}
KV = "kv-aware"
RR = "round-robin"
SGLANG = "sglang-router"


def quantile(sorted_values, q):
    """Linear interpolation between closest ranks; None for no values."""
    if not sorted_values:
        return None
    pos = q * (len(sorted_values) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def summarize(r):
    samples = r["load_samples"]
    n = len(samples[0]) if samples else 0
    means = [sum(s[i] for s in samples) / len(samples) for i in range(n)] if samples else []
    fleet_mean = sum(means) / n if n else 0
    return {
        "hit": r["hit_rate"],
        "p50": quantile(r["ttft_s"], 0.50),
        "p99": quantile(r["ttft_s"], 0.99),
        "tok_s": r["output_tokens"] / r["measured_s"] if r["measured_s"] else 0,
        "imbalance": max(means) / fleet_mean if fleet_mean > 0 else None,
        "means": means,
        "peak": max((max(s) for s in samples), default=None),
        "ok": r["ok"], "sent": r["sent"], "errors": r["errors"],
        "rate": r["request_rate"], "wall": r["wall_s"], "warmup": r["warmup_s"],
    }


def fmt_ms(v):
    if v is None:
        return "—"
    return f"{v * 1000:.1f} ms" if v < 0.1 else f"{v * 1000:.0f} ms"


def fmt_pct(v):
    return "—" if v is None else f"{100 * v:.1f}%"


def label(router):
    return "sglang-router 0.3.2 cache_aware" if router == SGLANG else f"switchyard {router}"


def main():
    out, workloads, routers = Path(sys.argv[1]), sys.argv[2].split(","), sys.argv[3:]
    data = {}
    lines = []
    skipped = {r: (out / f"{r}.skipped").read_text().strip() for r in routers if (out / f"{r}.skipped").exists()}
    for w in workloads:
        lines += [f"#### {WORKLOAD_TITLES[w]}", "",
                  "| router | prefix-cache hit rate | TTFT p50 | TTFT p99 | output tok/s | load: max replica / mean "
                  "| peak in-flight (one replica) | mean in-flight per replica | ok / sent | errors |",
                  "|---|---|---|---|---|---|---|---|---|---|"]
        rate = warmup = None
        for router in routers:
            if router in skipped:
                continue
            path = out / f"{router}-{w}.json"
            if not path.exists():
                lines.append(f"| {label(router)} | — | — | — | — | — | — | — | — | no result (see the logs in {out}) |")
                continue
            s = summarize(json.loads(path.read_text()))
            data[(router, w)] = s
            rate, warmup = s["rate"], s["warmup"]
            errors = ", ".join(f"{k} ×{v}" for k, v in s["errors"].items()) or "none"
            imbalance = "—" if s["imbalance"] is None else f"{s['imbalance']:.2f}"
            peak = "—" if s["peak"] is None else f"{s['peak']:.0f}"
            means = " / ".join(f"{m:.1f}" for m in s["means"])
            lines.append(f"| {label(router)} | {fmt_pct(s['hit'])} | {fmt_ms(s['p50'])} | {fmt_ms(s['p99'])} "
                         f"| {s['tok_s']:.0f} | {imbalance} | {peak} | {means} | {s['ok']} / {s['sent']} | {errors} |")
        if rate is not None:
            lines += ["", f"Offered: {rate:.1f} requests/s on average. Measured: the requests sent after the first "
                          f"{warmup:g} s (the warm-up, which fills the caches), and the load sampled from then on."]
        lines.append("")
    for router, why in skipped.items():
        lines.append(f"- skipped {label(router)}: {why}")
    if skipped:
        lines.append("")
    lines += targets(data)
    print("\n".join(lines))


def targets(d):
    """The goals the routing work is judged by, computed where both sides of a comparison ran."""
    def get(router, w, key):
        s = d.get((router, w))
        return None if s is None else s[key]

    rows = []

    def check(text, values, ok):
        if any(v is None for v in values):
            rows.append(f"- n/a  {text} (not all of its runs are in this output)")
        else:
            rows.append(f"- {'PASS' if ok(*values) else 'FAIL'} {text}")

    hk, hr = get(KV, "b", "hit"), get(RR, "b", "hit")
    check(f"(b) kv-aware hit rate ≥ 2 × round-robin's: {fmt_pct(hk)} vs 2 × {fmt_pct(hr)}", (hk, hr),
          lambda k, r: k >= 2 * r)
    for w in ("a", "b"):
        k, r = get(KV, w, "p99"), get(RR, w, "p99")
        check(f"({w}) kv-aware TTFT p99 ≤ ½ round-robin's: {fmt_ms(k)} vs ½ × {fmt_ms(r)}", (k, r),
              lambda k, r: k <= r / 2)
    for w in ("a", "b", "c"):
        k, g = get(KV, w, "p99"), get(SGLANG, w, "p99")
        check(f"({w}) kv-aware TTFT p99 < sglang-router cache_aware's: {fmt_ms(k)} vs {fmt_ms(g)}", (k, g),
              lambda k, g: k < g)
    imb = get(KV, "c", "imbalance")
    check(f"(c) kv-aware: no replica above 1.3 × the mean in-flight load (max replica / mean = "
          f"{'—' if imb is None else f'{imb:.2f}'})", (imb,), lambda i: i <= 1.3)
    hc, ha = get(KV, "c", "hit"), get(KV, "a", "hit")
    check(f"(c) kv-aware hit rate within 20% of its (a) hit rate: {fmt_pct(hc)} vs {fmt_pct(ha)}", (hc, ha),
          lambda c, a: c >= 0.8 * a)
    return ["Targets (for the kv-aware policy; computed by report.py):", ""] + rows


if __name__ == "__main__":
    main()
