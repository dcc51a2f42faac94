#!/usr/bin/env python3
"""Turns the raw lines of tokens.sh into Markdown: the results table and the targets.

Each scenario ran several rounds; the table shows the median round (by req/s) of each, the
ratios to nginx (plain proxy, no auth) and to HAProxy verifying the same algorithm, for
Gatehouse the share of requests its verified-token cache answered, and the CPU per request that
token checking adds to the same proxy without authentication (`haproxy-plain`,
`gatehouse-plain`; a difference of medians, so as noisy as the VM).
"""
import sys

from summarise import median, parse


def alg_of(name):
    for alg in ("rs256", "es256"):
        if alg in name:
            return alg
    return None


def ratio(a, b):
    return f"{a / b:.2f}×" if b else "–"


def main():
    raw, duration, connections, nrounds, ntokens = sys.argv[1:6]
    rounds = parse(raw)
    med = {name: median(rows) for name, rows in rounds.items()}
    nginx = med.get("nginx")
    print(f"\n{nrounds} rounds of {duration} per scenario, {connections} connections, "
          f"{ntokens} tokens per algorithm, median round shown\n")
    print("| scenario | req/s | p50 (µs) | p99 (µs) | errors | proxy CPU µs/req | "
          "CPU µs/req over own plain | cache hits | req/s vs nginx | "
          "req/s vs HAProxy (same alg) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, r in med.items():
        cpu = f"{r['cpu_per_req']:.1f}" if name != "backend" else "–"
        lookups = r.get("cache_hits", 0) + r.get("cache_misses", 0)
        hits = f"{100 * r['cache_hits'] / lookups:.1f}%" if name.startswith("gatehouse") \
            and lookups else "–"
        vs_nginx = ratio(r["rps"], nginx["rps"]) if nginx and name != "backend" else "–"
        hap = med.get(f"haproxy-{alg_of(name)}") if alg_of(name) else None
        vs_hap = ratio(r["rps"], hap["rps"]) if hap else "–"
        plain = med.get(name.split("-")[0] + "-plain") if alg_of(name) else None
        extra = f"{r['cpu_per_req'] - plain['cpu_per_req']:+.1f}" if plain else "–"
        print(f"| {name} | {r['rps']:.0f} | {r['p50']:.0f} | {r['p99']:.0f} | "
              f"{r['errors']:.0f} | {cpu} | {extra} | {hits} | {vs_nginx} | {vs_hap} |")
    print("\nAll rounds (req/s): " + "; ".join(
        f"{n}: " + ", ".join(f"{r['rps']:.0f}" for r in rows) for n, rows in rounds.items()))

    bare, hap_rs = med.get("bare-hyper"), med.get("haproxy-rs256")
    if bare and nginx and hap_rs:
        print(f"\nThe hyper yardstick (bare-hyper: hyper's server and client, nothing else): "
              f"{ratio(bare['rps'], nginx['rps'])} nginx, {ratio(bare['rps'], hap_rs['rps'])} "
              f"HAProxy RS256. A proxy that does more per request over the same hyper connections cannot be expected to go beyond them.")

    targets = []
    for name, r in med.items():
        alg = alg_of(name)
        if not name.startswith("gatehouse") or alg is None:
            continue
        hap = med.get(f"haproxy-{alg}")
        if name.endswith("nocache"):
            if hap:
                targets.append((f"cache defeated ≥ 1.0× HAProxy {alg.upper()}", name,
                                r["rps"] / hap["rps"], 1.0))
            continue
        if nginx:
            targets.append(("with cache ≥ 1.0× nginx plain proxy", name,
                            r["rps"] / nginx["rps"], 1.0))
        if hap:
            targets.append((f"with cache ≥ 3× HAProxy {alg.upper()}", name,
                            r["rps"] / hap["rps"], 3.0))
    if targets:
        print("\n| target | scenario | measured | met |")
        print("|---|---|---:|---|")
        for what, name, value, goal in targets:
            print(f"| {what} | {name} | {value:.2f}× | {'yes' if value >= goal else 'no'} |")


if __name__ == "__main__":
    main()
