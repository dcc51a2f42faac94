#!/usr/bin/env python3
"""Turns the raw lines of websessions.sh into Markdown: the results table and the target.

Each scenario ran several rounds; the table shows the median round (by req/s) of each, the
answers that were not 200 (websessions.sh already stopped if there were any) and those that set
a cookie (a re-issued session), the ratio to nginx (plain proxy, no auth), and the CPU per
request that the session check adds to Gatehouse without authentication (`gatehouse-plain`; a
difference of medians, so as noisy as the VM). "proxy CPU busy" is the proxy's CPU time over the
round's duration: a proxy that saturates its CPU shows close to 100%; clearly less means it was
waiting for something, or (on a shared VM) that another process ran on its CPU.
"""
import re
import sys

from summarise import median, parse


def seconds(duration):
    """wrk's duration syntax: `20s`, `2m`, `1h` or plain seconds."""
    number, unit = re.fullmatch(r"([\d.]+)([smh]?)", duration).groups()
    return float(number) * {"": 1, "s": 1, "m": 60, "h": 3600}[unit]


def main():
    raw, duration, connections, nrounds, nsessions = sys.argv[1:6]
    round_us = seconds(duration) * 1e6
    rounds = parse(raw)
    med = {name: median(rows) for name, rows in rounds.items()}
    nginx = med.get("nginx")
    plain = med.get("gatehouse-plain")
    print(f"\n{nrounds} rounds of {duration} per scenario, {connections} connections, "
          f"{nsessions} sessions, median round shown\n")
    print("| scenario | req/s | p50 (µs) | p99 (µs) | errors | non-200 | Set-Cookie | "
          "proxy CPU busy | proxy CPU µs/req | CPU µs/req over gatehouse-plain | req/s vs nginx |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in med.items():
        cpu = f"{r['cpu_per_req']:.1f}" if name != "backend" else "–"
        busy = f"{100 * r['cpu_us'] / round_us:.0f}%" if name != "backend" else "–"
        extra = f"{r['cpu_per_req'] - plain['cpu_per_req']:+.1f}" \
            if plain and name.startswith("gatehouse-web") else "–"
        vs_nginx = f"{r['rps'] / nginx['rps']:.2f}×" if nginx and name != "backend" else "–"
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | "
              f"{r['errors']:.0f} | {r.get('non200', 0):.0f} | {r.get('set_cookie', 0):.0f} | "
              f"{busy} | {cpu} | {extra} | {vs_nginx} |")
    def one_round(name, r):
        busy = f" ({100 * r['cpu_us'] / round_us:.0f}%)" if name != "backend" else ""
        return f"{r['rps']:.0f}{busy}"
    print("\nAll rounds (req/s, proxy CPU busy): " + "; ".join(
        f"{n}: " + ", ".join(one_round(n, r) for r in rows) for n, rows in rounds.items()))

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
