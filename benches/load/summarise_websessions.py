#!/usr/bin/env python3
"""Turns the raw lines of websessions.sh into Markdown: the results table and the target.

Each scenario ran several rounds; the table shows the median round (by req/s) of each, the
answers that were not 200 (websessions.sh already stopped if there were any) and those that set
a cookie (a re-issued session), the ratio to nginx (plain proxy, no auth), and the CPU per
request that the session check adds to Gatehouse without authentication (`gatehouse-plain`; a
difference of medians, so as noisy as the VM).
"""
import sys

from summarise import median, parse


def main():
    raw, duration, connections, nrounds, nsessions = sys.argv[1:6]
    rounds = parse(raw)
    med = {name: median(rows) for name, rows in rounds.items()}
    nginx = med.get("nginx")
    plain = med.get("gatehouse-plain")
    print(f"\n{nrounds} rounds of {duration} per scenario, {connections} connections, "
          f"{nsessions} sessions, median round shown\n")
    print("| scenario | req/s | p50 (µs) | p99 (µs) | errors | non-200 | Set-Cookie | "
          "proxy CPU µs/req | CPU µs/req over gatehouse-plain | req/s vs nginx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in med.items():
        cpu = f"{r['cpu_per_req']:.1f}" if name != "backend" else "–"
        extra = f"{r['cpu_per_req'] - plain['cpu_per_req']:+.1f}" \
            if plain and name.startswith("gatehouse-web") else "–"
        vs_nginx = f"{r['rps'] / nginx['rps']:.2f}×" if nginx and name != "backend" else "–"
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | "
              f"{r['errors']:.0f} | {r.get('non200', 0):.0f} | {r.get('set_cookie', 0):.0f} | "
              f"{cpu} | {extra} | {vs_nginx} |")
    print("\nAll rounds (req/s): " + "; ".join(
        f"{n}: " + ", ".join(f"{r['rps']:.0f}" for r in rows) for n, rows in rounds.items()))

    if nginx:
        print("\n| target | scenario | measured | met |")
        print("|---|---|---:|---|")
        for name, r in med.items():
            if name.startswith("gatehouse-web"):
                value = r["rps"] / nginx["rps"]
                print(f"| web session ≥ 1.0× nginx plain proxy | {name} | {value:.2f}× | "
                      f"{'yes' if value >= 1.0 else 'no'} |")


if __name__ == "__main__":
    main()
