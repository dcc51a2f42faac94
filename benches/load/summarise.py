#!/usr/bin/env python3
"""Turns the raw lines of run.sh into the Markdown table of docs/benchmarks.md.

Each scenario ran several rounds; the table shows the median round (by req/s) of each, and the
ratios of Gatehouse to nginx.
"""
import re
import sys


def parse(path):
    rounds = {}
    for line in open(path):
        name = line.split()[0]
        fields = dict(re.findall(r"(\w+)=([\d.]+)", line))
        r = {k: float(v) for k, v in fields.items()}
        r["cpu_per_req"] = r["cpu_us"] / r["requests"] if r["requests"] else 0.0
        rounds.setdefault(name, []).append(r)
    return rounds


def median(rows):
    rows = sorted(rows, key=lambda r: r["rps"])
    return rows[len(rows) // 2]


def main():
    raw, duration, connections, nrounds = sys.argv[1:5]
    rounds = parse(raw)
    med = {name: median(rows) for name, rows in rounds.items()}
    print(f"\n{nrounds} rounds of {duration} per scenario, {connections} connections, "
          "median round shown\n")
    print("| scenario | req/s | p50 (µs) | p99 (µs) | errors | proxy CPU µs/req | "
          "req/s vs nginx | p99 vs nginx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    nginx = med.get("nginx")
    for name in ("backend", "nginx", "gatehouse"):
        if name not in med:
            continue
        r = med[name]
        cpu = f"{r['cpu_per_req']:.1f}" if name != "backend" else "–"
        rps_ratio = f"{r['rps'] / nginx['rps']:.2f}×" if nginx and name != "backend" else "–"
        p99_ratio = f"{r['p99'] / nginx['p99']:.2f}×" if nginx and name != "backend" else "–"
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | "
              f"{r['errors']:.0f} | {cpu} | {rps_ratio} | {p99_ratio} |")
    print("\nAll rounds (req/s): " + "; ".join(
        f"{n}: " + ", ".join(f"{r['rps']:.0f}" for r in rows) for n, rows in rounds.items()))


if __name__ == "__main__":
    main()
