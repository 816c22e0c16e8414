#!/usr/bin/env python3
"""Turns the wrk outputs of benchmarks/overhead/run.sh into one Markdown table (medians over rounds).

    report.py OUT_DIR SETUP...

reads OUT_DIR/<setup>-r<round>.txt (wrk's output) and .cpu (CPU tick snapshots before and after) for
every round found, or OUT_DIR/<setup>.skipped (one line: why) for a setup that could not run, and
prints a table with, per setup: median req/s, its ratio to the first setup (the baseline), median
p50/p90/p99 latency, the proxy's CPU time per request and how busy its core was, how busy each CPU was,
every round's req/s (so the noise is visible), and error counts. A setup whose runs saw socket errors
or non-2xx answers is marked: its req/s would otherwise flatter a proxy that fails fast.

The proxy's CPU per request is the steadiest figure here: req/s moves with scheduling across the two
cores, while the CPU a proxy spends on a request does not. Notes under the table flag runs where CPU 0
was busy with something other than the proxy (another build on the machine, say).
"""
import re
import statistics
import sys
from pathlib import Path

# A run where CPU 0 did more than this share of work beyond the proxy's own is flagged as disturbed.
INTERFERENCE_SHARE = 0.10
UNIT_TO_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
PERCENTILES = ("50", "90", "99")


def to_ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise ValueError(f"unknown latency {text!r}")
    return float(match.group(1)) * UNIT_TO_MS[match.group(2)]


def parse_wrk(text: str) -> dict:
    """The figures of one `wrk --latency` run."""
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not rps:
        raise ValueError("no Requests/sec line")
    requests = re.search(r"^\s+(\d+) requests in ([\d.]+)(us|ms|s|m),", text, re.M)
    if not requests:
        raise ValueError("no 'N requests in T' line")
    result = {"rps": float(rps.group(1)), "errors": 0, "requests": int(requests.group(1))}
    for pct in PERCENTILES:
        match = re.search(rf"^\s+{pct}%\s+(\S+)", text, re.M)
        if not match:
            raise ValueError(f"no {pct}% latency line (was wrk run with --latency?)")
        result[f"p{pct}"] = to_ms(match.group(1))
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if sockets:
        result["errors"] += sum(int(n) for n in sockets.groups())
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if non2xx:
        result["errors"] += int(non2xx.group(1))
    return result


def parse_cpu(text: str, clk_tck: int) -> dict:
    """CPU use between the two snapshot lines of a .cpu file, in seconds and shares of each CPU."""
    before, after = ({k: int(v) for k, v in (f.split("=") for f in line.split())} for line in text.splitlines()[:2])
    delta = {k: after[k] - before[k] for k in after}
    share = lambda busy, total: delta[busy] / delta[total] if delta[total] else 0.0
    return {
        "proxy_seconds": delta["proxy"] / clk_tck,
        "proxy_share": delta["proxy"] / delta["cpu0_total"] if delta["cpu0_total"] else 0.0,
        "cpu0": share("cpu0_busy", "cpu0_total"),
        "cpu1": share("cpu1_busy", "cpu1_total"),
        # Loopback TCP work done in softirq context is not charged to the proxy process; leave it out
        # when asking whether something else ran on CPU 0 (older .cpu files have no softirq figure).
        "cpu0_softirq": share("cpu0_softirq", "cpu0_total") if "cpu0_softirq" in delta else 0.0,
    }


def fmt_ms(ms: float) -> str:
    return f"{ms * 1000:.0f} us" if ms < 1 else f"{ms:.2f} ms"


NOT_RUN = ["—"] * 9


def row(out_dir: Path, setup: str, baseline_rps, clk_tck: int, notes: list):
    skipped = out_dir / f"{setup}.skipped"
    if skipped.exists():
        reason = skipped.read_text().strip()
        return [setup, *NOT_RUN, f"not run: {reason}"], None
    runs = sorted(out_dir.glob(f"{setup}-r*.txt"), key=lambda p: int(p.stem.rsplit("-r", 1)[1]))
    if not runs:
        return [setup, *NOT_RUN, "no output"], None
    parsed = []
    for path in runs:
        try:
            result = parse_wrk(path.read_text())
            cpu_file = path.with_suffix(".cpu")
            if cpu_file.exists():
                result.update(parse_cpu(cpu_file.read_text(), clk_tck))
        except (ValueError, KeyError) as error:
            return [setup, *NOT_RUN, f"{path.name}: {error}"], None
        parsed.append(result)
        # The proxy is alone on CPU 0 (and in the direct setup nothing is): more busy than that is someone else.
        if "cpu0" in result and result["cpu0"] - result["cpu0_softirq"] - result["proxy_share"] > INTERFERENCE_SHARE:
            notes.append(f"{path.stem}: CPU 0 was {result['cpu0']:.0%} busy ({result['cpu0_softirq']:.0%} softirq), "
                         f"the proxy used {result['proxy_share']:.0%}: another process ran there; that round is noisy.")
    median = lambda key: statistics.median(r[key] for r in parsed)
    rps = median("rps")
    ratio = f"{rps / baseline_rps:.2f}" if baseline_rps else "—"
    errors = sum(r["errors"] for r in parsed)
    has_cpu = all("cpu0" in r for r in parsed)
    proxied = has_cpu and any(r["proxy_seconds"] > 0 for r in parsed)
    cells = [
        setup,
        f"{rps:,.0f}",
        ratio,
        *(fmt_ms(median(f"p{p}")) for p in PERCENTILES),
        f"{statistics.median(r['proxy_seconds'] / r['requests'] * 1e6 for r in parsed):.1f} us" if proxied else "—",
        f"{median('proxy_share'):.0%}" if proxied else "—",
        f"{median('cpu0'):.0%} / {median('cpu1'):.0%}" if has_cpu else "—",
        " / ".join(f"{r['rps']:,.0f}" for r in parsed),
        "none" if errors == 0 else f"{errors} (socket errors or non-2xx: figures not comparable)",
    ]
    return cells, rps


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir, setups = Path(sys.argv[1]), sys.argv[2:]
    clk_file = out_dir / "clk_tck"
    clk_tck = int(clk_file.read_text()) if clk_file.exists() else 100
    header = ["setup", "req/s (median)", f"vs {setups[0]}", "p50", "p90", "p99",
              "proxy CPU per request", "proxy core busy", "CPU0 / CPU1 busy", "req/s each round", "errors"]
    rows, baseline, notes = [], None, []
    for setup in setups:
        cells, rps = row(out_dir, setup, baseline, clk_tck, notes)
        if setup == setups[0]:
            baseline = rps
            if rps:
                cells[2] = "1.00"
        rows.append(cells)
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    if notes:
        print()
        for note in notes:
            print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
