#!/usr/bin/env python3
"""The regression guard: about a minute, the current gateway beside nginx (and a baseline build
when given) in one run, ratios printed.

What it measures, ECDSA P-256, every server on core 0, the load on core 1:
  new tunnels   server CPU per new tunnel (full handshake with client certificate, tunnel
                request, 16-byte echo, close; 16 clients), alternating rounds
  bulk          server CPU per GiB, one way, 256 MiB per round
  idle          resident memory per open idle tunnel (--idle tunnels held open)
  after burst   resident size 5 s after those tunnels closed, over the size before them

It reports, it does not fail on a number: these machines are shared and noisy, so a ratio
moves by ±10% between runs. A ratio that moved by much more than that is the signal.
`.ci/run` runs it against nginx and prints the table; before merging a change on the tunnel
path, run it with the old build as the baseline:

    cargo build --release -p cloudgate -p cloudgate-bench
    cp target/release/cloudgate /tmp/cg-old        # before the change
    python3 bench/guard.py [--baseline /tmp/cg-old] [--build target/release/cloudgate]
"""

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import ab  # noqa: E402  (bench/ab.py: burst)
import run  # noqa: E402  (bench/run.py: World, loadgen, measured)


def rate(server, seconds):
    r = run.measured(server, lambda: run.loadgen("rate", server, "--concurrency", 16,
                                                 "--seconds", seconds, "--payload", 16))
    return r["server_cpu_s"] / max(r["ops"], 1) * 1e6


def bulk(server, nbytes):
    target = dict(server)
    if "sink_service" in target:
        target["service"] = target["sink_service"]
    else:
        target["addr"] = target["sink_addr"]
    r = run.measured(server, lambda: run.loadgen("bulk", target, "--bytes", nbytes))
    return r["server_cpu_s"] / (nbytes / 2**30)


def idle_and_burst(server, count, settle):
    """(KB per open idle tunnel, resident size `settle` s after they closed / before)."""
    before, held, after, opened = ab.burst(server, count, settle)
    return (held - before) * 1024 / max(opened, 1) / 1000, after / max(before, 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(run.ROOT / "target" / "release" / "cloudgate"))
    ap.add_argument("--baseline", help="an older gateway binary to run beside the build")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=3)
    ap.add_argument("--bulk-bytes", type=int, default=256 << 20)
    ap.add_argument("--idle", type=int, default=1000)
    ap.add_argument("--settle", type=int, default=5)
    args = ap.parse_args()
    run.ensure_peers()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    started = time.monotonic()
    builds = [("cloudgate", args.build)] + ([("baseline", args.baseline)] if args.baseline else [])
    with tempfile.TemporaryDirectory() as tmp:
        worlds, servers = [], {}
        try:
            for i, (name, binary) in enumerate(builds):
                run.CG = Path(binary).resolve()
                work = Path(tmp) / str(i)
                work.mkdir()
                w = run.World(work, "ecdsa-p256")
                worlds.append(w)
                servers[name] = {"cert": w.cert, "client_cert": w.client_cert,
                                 "client_key": w.client_key, "pid": w.gateway.pid,
                                 "addr": w.gateway_addr, "service": "echo", "sink_service": "sink"}
            peers = worlds[0].servers()
            servers["nginx"] = peers["nginx"]
            servers["bare relay"] = peers["bare rustls + backend"]
            for s in servers.values():
                rate(s, 1)  # warm-up, unmeasured
            rates = {n: [] for n in servers}
            bulks = {n: [] for n in servers if n != "bare relay"}
            for _ in range(args.rounds):
                for n, s in servers.items():
                    rates[n].append(rate(s, args.seconds))
                for n in bulks:
                    bulks[n].append(bulk(servers[n], args.bulk_bytes))
            memory = {n: idle_and_burst(servers[n], args.idle, args.settle)
                      for n in servers if n != "bare relay"}
        finally:
            for w in worlds:
                w.close()

    def ratio(table, n, other):
        if other not in table or n == other:
            return "-"
        return f"{statistics.median(a / b for a, b in zip(table[n], table[other])):.2f}"

    print(f"\n### Regression guard ({time.monotonic() - started:.0f} s; ECDSA P-256; medians of "
          f"{args.rounds} rounds; load average {open('/proc/loadavg').read().split()[0]} at the end)\n")
    cols = ["nginx"] + (["baseline"] if args.baseline else [])
    print("| server | new tunnel µs | ÷ bare relay | bulk s/GiB | idle KB/tunnel | after burst ÷ before | "
          + " | ".join(f"tunnel ÷ {c} | bulk ÷ {c}" for c in cols) + " |")
    print("|---|" + "---:|" * (5 + 2 * len(cols)))
    for n in servers:
        cells = [n, f"{statistics.median(rates[n]):,.0f}", ratio(rates, n, "bare relay")]
        cells.append(f"{statistics.median(bulks[n]):.2f}" if n in bulks else "-")
        cells += [f"{memory[n][0]:.1f}", f"{memory[n][1]:.2f}"] if n in memory else ["-", "-"]
        for c in cols:
            cells += [ratio(rates, n, c), ratio(bulks, n, c) if n in bulks else "-"]
        print("| " + " | ".join(cells) + " |")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
