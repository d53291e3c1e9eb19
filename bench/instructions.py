#!/usr/bin/env python3
"""Instructions per new tunnel, counted by valgrind (callgrind), for builds of the gateway and
the bare rustls relay.

CPU time on a shared two-core machine moves by ±5% from one round to the next (`bench/ab.py`
needs many rounds to see a 3% change, and cannot see a 0.5% one). The number of instructions a
gateway executes for a tunnel does not depend on what else runs: two runs of the same build
agree within 0.1%. It counts user space only (not the kernel's side of the system calls) and
weighs every instruction alike (not cache misses, not contended atomics), so it says which of
two builds does less work, and where, not how much faster it is: confirm a change with
`bench/ab.py` too. `--cache` adds what instructions do not show: callgrind's simulation of the
instruction and data caches and of the branch predictors (slower still), misses and
mispredictions per tunnel, each with its ratio to the first server's.

Each build runs under `valgrind --tool=callgrind` in its own world (SP data, tenant, backends,
as `bench/run.py` makes them). The load generator (not under valgrind) opens tunnels for a few
seconds to warm up, the counters are zeroed, then it opens tunnels for `--seconds` (each with a
16-byte echo, 4 at once), the counters are dumped and divided by the tunnels made.

Usage (root; needs valgrind):
    python3 bench/instructions.py /tmp/cg-before target/release/cloudgate [--bare] [--seconds 10]
                                  [--diff 30] [--cache]

Under valgrind the CPU has no SHA instructions: the `sha2` crate and AWS-LC hash in software, so
the handshake's cryptography weighs more here than natively, and the gateway's own work (the
same instructions natively) less: a 2% difference in instructions was 7% in CPU time.

`--bare` adds the bare relay (`cloudgate-loadgen bare --backend`, the same TLS settings, no
tunnel request, no checks). `--diff N` prints the N functions whose own instructions per tunnel
grew most from the first build (or the bare relay, with `--bare`) to the last build.
"""

import argparse
import collections
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: World, loadgen, start)

OUT = Path(tempfile.gettempdir()) / "cloudgate-instructions"


# With `--cache`: callgrind's simulation of the caches and branch predictors too.
SIMULATE = []


def valgrind(out):
    return ["valgrind", "--tool=callgrind", *SIMULATE, f"--callgrind-out-file={out}"]


def counted(server, pid, out, seconds):
    """(tunnels, callgrind dump) for `seconds` of new tunnels after a warm-up."""
    run.loadgen("rate", server, "--concurrency", 4, "--seconds", 3, "--payload", 16)
    subprocess.run(["callgrind_control", "-z", str(pid)], capture_output=True, check=True)
    r = run.loadgen("rate", server, "--concurrency", 4, "--seconds", seconds, "--payload", 16)
    subprocess.run(["callgrind_control", "-d", str(pid)], capture_output=True, check=True)
    time.sleep(1)
    dumps = sorted(glob.glob(f"{out}.*"), key=os.path.getmtime)
    return r["ops"], dumps[-1]


def events(dump):
    """Every event's total in a callgrind dump, by its name (Ir: instructions)."""
    names = None
    for line in open(dump):
        if line.startswith("events:"):
            names = line.split()[1:]
        if line.startswith(("summary:", "totals:")) and names:
            return dict(zip(names, map(int, line.split()[1:])))
    raise SystemExit(f"{dump}: no totals in the callgrind output")


def total(dump):
    return events(dump)["Ir"]


# The simulated events `--cache` adds, as printed: what each costs natively is a stall of the
# pipeline, which instructions alone do not show.
CACHE_EVENTS = [("I1mr", "I1 misses"), ("D1mr", "D1 read misses"), ("D1mw", "D1 write misses"),
                ("Bcm", "branches mispredicted"), ("Bim", "indirect mispredicted")]


def by_function(dump, tunnels):
    """Own instructions per tunnel of each function."""
    text = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", dump],
                          capture_output=True, text=True, check=True).stdout
    own = collections.Counter()
    for line in text.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*)", line)
        if m and ":" in m.group(2):
            name = re.sub(r"^[^:]*:", "", m.group(2).split(" [")[0])
            own[name] += int(m.group(1).replace(",", "")) / tunnels
    return own


def gateway(build, key_type, seconds):
    name = Path(build).name
    out = OUT / name
    for f in glob.glob(f"{out}*"):
        os.remove(f)
    wrapper = OUT / f"run-{name}"
    # Only the gateway runs under valgrind; the SP commands that set the world up do not.
    wrapper.write_text(f'#!/bin/sh\ncase "$*" in\n  *"gateway run"*) exec {" ".join(valgrind(out))} '
                       f'{Path(build).resolve()} "$@" ;;\n  *) exec {Path(build).resolve()} "$@" ;;\nesac\n')
    wrapper.chmod(0o755)
    run.CG = wrapper
    with tempfile.TemporaryDirectory() as tmp:
        world = run.World(Path(tmp), key_type)
        try:
            server = {"cert": world.cert, "client_cert": world.client_cert,
                      "client_key": world.client_key, "addr": world.gateway_addr, "service": "echo"}
            return counted(server, world.gateway.pid, out, seconds)
        finally:
            world.close()


def bare(reference, key_type, seconds):
    out = OUT / "bare-relay"
    for f in glob.glob(f"{out}*"):
        os.remove(f)
    run.CG = Path(reference).resolve()
    with tempfile.TemporaryDirectory() as tmp:
        world = run.World(Path(tmp), key_type)
        try:
            p, line = run.start([*valgrind(out), run.LG, "bare", "--listen", "127.0.0.1:0",
                                 "--cert", world.combined, "--key", world.combined,
                                 "--backend", world.echo])
            world.procs.append(p)
            server = {"cert": world.cert, "client_cert": world.client_cert,
                      "client_key": world.client_key, "addr": run.addr_in(line)}
            return counted(server, p.pid, out, seconds)
        finally:
            world.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("builds", nargs="+", help="gateway binaries to count")
    ap.add_argument("--bare", action="store_true", help="count the bare rustls relay too")
    ap.add_argument("--seconds", type=int, default=10, help="seconds of tunnels counted per build")
    ap.add_argument("--key-type", default="ecdsa-p256")
    ap.add_argument("--diff", type=int, default=0, metavar="N",
                    help="the N functions that grew most from the reference to the last build")
    ap.add_argument("--cache", action="store_true",
                    help="simulate the caches and branch predictors too, and print their misses per tunnel")
    args = ap.parse_args()
    if args.cache:
        SIMULATE.extend(["--cache-sim=yes", "--branch-sim=yes"])
    OUT.mkdir(exist_ok=True)
    # The gateway must start under valgrind (slow): the world waits for its address line.
    started = run.start

    def patient_start(cmd, env=None, core=run.SERVER_CORE, log=None):
        p, line = started(cmd, env, core, log)
        while "127.0.0.1:" not in line and p.poll() is None:
            line = p.stdout.readline()
        return p, line
    run.start = patient_start
    results = []
    if args.bare:
        tunnels, dump = bare(args.builds[0], args.key_type, args.seconds)
        results.append(("bare rustls relay", tunnels, dump))
    for build in args.builds:
        tunnels, dump = gateway(build, args.key_type, args.seconds)
        results.append((build, tunnels, dump))
    reference = total(results[0][2]) / results[0][1]
    print(f"\n| server | tunnels counted | instructions per tunnel | / {results[0][0]} |")
    print("|---|---:|---:|---:|")
    for name, tunnels, dump in results:
        per = total(dump) / tunnels
        print(f"| {name} | {tunnels:,} | {per:,.0f} | {per / reference:.4f} |")
    if args.cache:
        base = events(results[0][2])
        print(f"\n| server | {' | '.join(label for _, label in CACHE_EVENTS)} |")
        print("|---|" + "---:|" * len(CACHE_EVENTS))
        for name, tunnels, dump in results:
            got = events(dump)
            cells = [f"{got[e] / tunnels:,.0f} ({got[e] / tunnels / max(base[e] / results[0][1], 1e-9):.2f})"
                     for e, _ in CACHE_EVENTS]
            print(f"| {name} | {' | '.join(cells)} |")
    if args.diff:
        old = by_function(results[0][2], results[0][1])
        new = by_function(results[-1][2], results[-1][1])
        print(f"\nown instructions per tunnel: {results[0][0]} → {results[-1][0]}")
        # Without debug information a frame that inlined everything below it shows the whole
        # tunnel as its own: those say nothing.
        whole = 0.5 * total(results[0][2]) / results[0][1]
        names = [f for f in set(old) | set(new) if max(old[f], new[f]) < whole]
        for f in sorted(names, key=lambda f: old[f] - new[f])[:args.diff]:
            print(f"{old[f]:10,.0f} {new[f]:10,.0f} {new[f] - old[f]:+9,.0f}  {f[:110]}")


if __name__ == "__main__":
    main()
