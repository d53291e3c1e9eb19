#!/usr/bin/env python3
"""A/B comparison of two (or more) builds of the gateway, in alternating rounds.

On a shared, noisy machine a change worth 5% disappears between two separate runs of
`bench/run.py`. This script starts one gateway per build (each with its own SP data, tenant and
backends, exactly as `bench/run.py` does), then measures them in turn, round after round, so
that whatever else the machine does falls on all of them alike, and prints the median of each.

Usage (root):
    cp target/release/cloudgate /tmp/cg-before     # build, copy, change, build again
    python3 bench/ab.py /tmp/cg-before target/release/cloudgate [--case rate|resume|bulk|bulk-one-way|burst|passwords]
                        [--rounds 4] [--seconds 4] [--key-type ecdsa-p256] [--tunnels 2000] [--settle 12]
                        [--checks 50]

`--case burst` measures memory, not CPU: each round opens `--tunnels` idle tunnels to each
build, closes them, waits `--settle` seconds and reads the gateway's resident size; it prints
the size before, with the tunnels open (and so per open tunnel) and after, per build and round.

`--case passwords` measures memory too: each round makes `--checks` enrollments into the
benchmark tenant, half with a wrong password, 8 at once from 8 source addresses (each runs the
password hash: argon2's 19 MiB work area), waits `--settle` seconds and reads the resident size.
The gateways run with the enrollment throttle raised, so that every check reaches the hash; a
"busy" answer (the gateway runs only a few hashes at once) is tried again, and counted.

`--limits "ARGS"` measures each build twice: as it is, and with `sp tenant set bench0 ARGS`
applied to the benchmark tenant (e.g. `--limits "--max-upload 10GB/s --max-download 10GB/s
--max-tunnels 1000000"`: limits set but never reached), as "BUILD +limits".

A "build" may be a script that sets the environment and execs a binary, e.g. to compare log
levels:  printf '#!/bin/sh\\nCLOUDGATE_LOG=warn exec /tmp/cg "$@"\\n' > /tmp/cg-warn
"""

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
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


def burst(server, count, settle):
    """One burst: (RSS before, with `count` idle tunnels open, `settle` s after they closed) in
    KiB, and how many opened."""
    pid = server["pid"]
    before = run.rss_kib(pid)
    target = ["--target", server["addr"], "--server-cert", server["cert"], "--client-cert",
              server["client_cert"], "--client-key", server["client_key"], "--sources", "64"]
    if server.get("service"):  # the gateway's tunnel service; none for a plain TLS peer
        target += ["--service", server["service"]]
    p = subprocess.Popen(["taskset", "-c", run.LOAD_CORE, str(run.LG), "idle", *map(str, target),
                          "--count", str(count)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         text=True)
    report = json.loads(p.stdout.readline())
    time.sleep(1)
    held = run.rss_kib(pid)
    p.stdin.close()
    p.wait()
    time.sleep(settle)
    return before, held, run.rss_kib(pid), report["open"]


def passwords(server, checks, settle):
    """One round of password checks: (RSS before, `settle` s after) in KiB, and the answers."""
    pid = server["pid"]
    before = run.rss_kib(pid)
    out = run.sh("taskset", "-c", run.LOAD_CORE, run.LG, "password-checks", "--target",
                 server["addr"], "--server-cert", server["cert"], "--tenant", "bench0",
                 "--password-file", server["password_file"], "--count", checks, "--wrong",
                 checks // 2, "--parallel", 8, "--sources", 8).stdout
    time.sleep(settle)
    return before, run.rss_kib(pid), json.loads(out)


def passwords_case(worlds, args):
    rows = {build: [] for build, _, _ in worlds}
    for r in range(args.rounds):
        for build, _, server in worlds:
            before, after, answers = passwords(server, args.checks, args.settle)
            rows[build].append((before, after))
            print(f"round {r + 1} {build}: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB "
                  f"{args.settle} s after {answers['enrolled']} enrollments and "
                  f"{answers['refused']} wrong passwords, {answers['busy']} busy answers tried again ({after / max(before, 1):.2f}x)", flush=True)
    print("\n| build | before the first round (MiB) | after the first (MiB) | after the last (MiB) | "
          "after the last / before the first |")
    print("|---|---:|---:|---:|---:|")
    for build, got in rows.items():
        first = got[0][0]
        print(f"| {build} | {first / 1024:.1f} | {got[0][1] / 1024:.1f} | {got[-1][1] / 1024:.1f} | "
              f"{got[-1][1] / max(first, 1):.2f} |")


def burst_case(worlds, args):
    rows = {build: [] for build, _, _ in worlds}
    for r in range(args.rounds):
        for build, _, server in worlds:
            before, held, after, opened = burst(server, args.tunnels, args.settle)
            per = (held - before) * 1024 / max(opened, 1) / 1000
            rows[build].append((before, held, after, per))
            print(f"round {r + 1} {build}: {before / 1024:.1f} MiB before, {held / 1024:.1f} MiB "
                  f"with {opened} open ({per:.1f} KB each), {after / 1024:.1f} MiB {args.settle} s "
                  f"after they closed ({after / max(before, 1):.2f}x)", flush=True)
    print("\n| build | before (MiB) | open (KB/tunnel, median) | after the last burst (MiB) | after / first before |")
    print("|---|---:|---:|---:|---:|")
    for build, got in rows.items():
        first = got[0][0]
        print(f"| {build} | {first / 1024:.1f} | {statistics.median(g[3] for g in got):.1f} | "
              f"{got[-1][2] / 1024:.1f} | {got[-1][2] / max(first, 1):.2f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="gateway binaries (or wrapper scripts) to compare")
    ap.add_argument("--case", choices=["rate", "resume", "bulk", "bulk-one-way", "burst", "passwords"],
                    default="rate")
    ap.add_argument("--tunnels", type=int, default=2000, help="tunnels per burst (--case burst)")
    ap.add_argument("--settle", type=int, default=12, help="seconds after a burst (--case burst)")
    ap.add_argument("--checks", type=int, default=50, help="password checks per round (--case passwords)")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--key-type", default="ecdsa-p256")
    ap.add_argument("--limits", help="also measure each build with `sp tenant set bench0 LIMITS`")
    args = ap.parse_args()
    unit = "s/GiB" if args.case.startswith("bulk") else "µs/tunnel"
    rate_unit = "MB/s" if args.case.startswith("bulk") else "tunnels/s"
    with tempfile.TemporaryDirectory() as tmp:
        worlds = []
        try:
            labels = []
            variants = [(b, None) for b in args.builds]
            if args.limits:
                variants = [v for b in args.builds for v in ((b, None), (b, args.limits))]
            for i, (build, limits) in enumerate(variants):
                run.CG = Path(build).resolve()
                work = Path(tmp) / str(i)
                work.mkdir()
                # Password checks must all reach the hash: no throttle in the way.
                conf = ("enroll_failures_per_window = 1000000\n"
                        "account_failures_per_window = 1000000\n") if args.case == "passwords" else ""
                w = run.World(work, args.key_type, gateway_conf=conf)
                label = build
                if limits:
                    run.sh(run.CG, "sp", "tenant", "set", "bench0", *limits.split(), env=w.env)
                    time.sleep(3)  # the gateway's next reload
                    label = f"{build} +limits"
                labels.append(label)
                worlds.append((label, w, {"cert": w.cert, "client_cert": w.client_cert,
                                          "client_key": w.client_key, "pid": w.gateway.pid,
                                          "addr": w.gateway_addr, "service": "echo",
                                          "password_file": w.work / "pw"}))
            if args.case == "passwords":
                passwords_case(worlds, args)
                return
            if args.case == "burst":
                burst_case(worlds, args)
                return
            results = {label: [] for label in labels}
            for _ in range(args.rounds):
                for build, _, server in worlds:
                    cpu, rate = once(args.case, server, args.seconds)
                    results[build].append((cpu, rate))
                    print(f"{build}: {cpu:,.2f} {unit}, {rate:,.0f} {rate_unit}", flush=True)
            print(f"\n| build | {unit} (median) | {rate_unit} (median) |\n|---|---:|---:|")
            for build in labels:
                cpu = statistics.median(c for c, _ in results[build])
                rate = statistics.median(r for _, r in results[build])
                print(f"| {build} | {cpu:,.2f} | {rate:,.0f} |")
        finally:
            for _, w, _ in worlds:
                w.close()


if __name__ == "__main__":
    main()
