#!/usr/bin/env python3
"""Turns the wrk outputs of benchmarks/overhead/run.sh into one Markdown table (medians over rounds).

    report.py OUT_DIR SETUP...

reads OUT_DIR/<setup>-r<round>.txt for every round found, or OUT_DIR/<setup>.skipped (one line: why)
for a setup that could not run, and prints a table with, per setup: median req/s, its ratio to the
first setup (the baseline), median p50/p90/p99 latency, every round's req/s (so the noise is visible),
and error counts. A setup whose runs saw socket errors or non-2xx answers is marked: its req/s would
otherwise flatter a proxy that fails fast.
"""
import re
import statistics
import sys
from pathlib import Path

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
    result = {"rps": float(rps.group(1)), "errors": 0}
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


def fmt_ms(ms: float) -> str:
    return f"{ms * 1000:.0f} us" if ms < 1 else f"{ms:.2f} ms"


def row(out_dir: Path, setup: str, baseline_rps):
    skipped = out_dir / f"{setup}.skipped"
    if skipped.exists():
        reason = skipped.read_text().strip()
        return [setup, "—", "—", "—", "—", "—", "—", f"not run: {reason}"], None
    runs = sorted(out_dir.glob(f"{setup}-r*.txt"), key=lambda p: int(p.stem.rsplit("-r", 1)[1]))
    if not runs:
        return [setup, "—", "—", "—", "—", "—", "—", "no output"], None
    parsed = []
    for path in runs:
        try:
            parsed.append(parse_wrk(path.read_text()))
        except ValueError as error:
            return [setup, "—", "—", "—", "—", "—", "—", f"{path.name}: {error}"], None
    rps = statistics.median(r["rps"] for r in parsed)
    ratio = f"{rps / baseline_rps:.2f}" if baseline_rps else "—"
    errors = sum(r["errors"] for r in parsed)
    cells = [
        setup,
        f"{rps:,.0f}",
        ratio,
        *(fmt_ms(statistics.median(r[f"p{p}"] for r in parsed)) for p in PERCENTILES),
        " / ".join(f"{r['rps']:,.0f}" for r in parsed),
        "none" if errors == 0 else f"{errors} (socket errors or non-2xx: figures not comparable)",
    ]
    return cells, rps


def main() -> int:
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out_dir, setups = Path(sys.argv[1]), sys.argv[2:]
    header = ["setup", "req/s (median)", f"vs {setups[0]}", "p50", "p90", "p99", "req/s each round", "errors"]
    rows, baseline = [], None
    for setup in setups:
        cells, rps = row(out_dir, setup, baseline)
        if setup == setups[0]:
            baseline = rps
            if rps:
                cells[2] = "1.00"
        rows.append(cells)
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" for _ in header) + "|")
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
