#!/usr/bin/env python3
"""A/B comparison of two (or more) builds of the gateway, in alternating rounds.

On a shared, noisy machine a change worth 5% disappears between two separate runs of
`bench/run.py`. This script starts one gateway per build (each with its own SP data, tenant and
backends, exactly as `bench/run.py` does), then measures them in turn, round after round, so
that whatever else the machine does falls on all of them alike, and prints the median of each.

Usage (root):
    cp target/release/cloudgate /tmp/cg-before     # build, copy, change, build again
    python3 bench/ab.py /tmp/cg-before target/release/cloudgate [--case rate|resume|bulk|bulk-one-way]
                        [--rounds 4] [--seconds 4] [--key-type ecdsa-p256]

A "build" may be a script that sets the environment and execs a binary, e.g. to compare log
levels:  printf '#!/bin/sh\\nCLOUDGATE_LOG=warn exec /tmp/cg "$@"\\n' > /tmp/cg-warn
"""

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: World, loadgen, measured)


def once(case, server, seconds):
    """One measurement: (server CPU per unit, rate); the unit is a tunnel, or a GiB for bulk."""
    if case == "bulk":
        both = dict(server, service="echo")
        r = run.measured(server, lambda: run.loadgen("bulk", both, "--bytes", 1 << 29, "--duplex"))
        return r["server_cpu_s"], r["mb_per_s_each_way"]
    if case == "bulk-one-way":
        sink = dict(server, service="sink")
        r = run.measured(server, lambda: run.loadgen("bulk", sink, "--bytes", 1 << 30))
        return r["server_cpu_s"], r["mb_per_s_each_way"]
    extra = ["--resume"] if case == "resume" else []
    r = run.measured(server, lambda: run.loadgen("rate", server, "--concurrency", 16, "--seconds",
                                                 seconds, "--payload", 16, *extra))
    return r["server_cpu_s"] / max(r["ops"], 1) * 1e6, r["rate"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="gateway binaries (or wrapper scripts) to compare")
    ap.add_argument("--case", choices=["rate", "resume", "bulk", "bulk-one-way"], default="rate")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--key-type", default="ecdsa-p256")
    args = ap.parse_args()
    unit = "s/GiB" if args.case.startswith("bulk") else "µs/tunnel"
    rate_unit = "MB/s" if args.case.startswith("bulk") else "tunnels/s"
    with tempfile.TemporaryDirectory() as tmp:
        worlds = []
        try:
            for i, build in enumerate(args.builds):
                run.CG = Path(build).resolve()
                work = Path(tmp) / str(i)
                work.mkdir()
                w = run.World(work, args.key_type)
                worlds.append((build, w, {"cert": w.cert, "client_cert": w.client_cert,
                                          "client_key": w.client_key, "pid": w.gateway.pid,
                                          "addr": w.gateway_addr, "service": "echo"}))
            results = {build: [] for build in args.builds}
            for _ in range(args.rounds):
                for build, _, server in worlds:
                    cpu, rate = once(args.case, server, args.seconds)
                    results[build].append((cpu, rate))
                    print(f"{build}: {cpu:,.2f} {unit}, {rate:,.0f} {rate_unit}", flush=True)
            print(f"\n| build | {unit} (median) | {rate_unit} (median) |\n|---|---:|---:|")
            for build in args.builds:
                cpu = statistics.median(c for c, _ in results[build])
                rate = statistics.median(r for _, r in results[build])
                print(f"| {build} | {cpu:,.2f} | {rate:,.0f} |")
        finally:
            for _, w, _ in worlds:
                w.close()


if __name__ == "__main__":
    main()
