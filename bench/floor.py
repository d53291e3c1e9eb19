#!/usr/bin/env python3
"""Where the floor of bulk CPU is on this machine: the kernel's TCP work plus AES-GCM, against
what the gateway and nginx spend, in one run.

Bulk through a TLS relay costs every server the same two things it cannot avoid without kernel
TLS (which this kernel lacks): the kernel's TCP work on two sockets (the system time of the
server's process, which includes delivering each loopback segment) and AES-GCM over every byte
(measured alone with `openssl speed` on the server's core). This script measures, ECDSA P-256,
each server on core 0 and the load on core 1, alternating rounds:

  user, system   the server process's user and system CPU per GiB (from /proc/PID/stat)
  AES            AES-128-GCM per GiB on core 0 (`openssl speed -evp aes-128-gcm -bytes 16384`)
  floor          the lower system time of the two servers (the kernel's TCP work), alone and
                 + AES per GiB (openssl speed's figure, or the lower user time of the two servers
                 if that is less: a server's user time includes its AES)
  ÷ nginx        total CPU over nginx's; the floor's ratio is the best any server could reach

Usage (root):
    cargo build --release -p cloudgate -p cloudgate-bench
    python3 bench/floor.py [--rounds 3] [--bytes 1073741824] [--build target/release/cloudgate]
"""

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run  # noqa: E402  (bench/run.py: World, loadgen)


def user_system(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / run.HZ, int(fields[12]) / run.HZ


def bulk(server, nbytes, duplex):
    """(user, system) CPU seconds of the server per GiB moved (both directions counted)."""
    target = dict(server)
    if not duplex:
        if "sink_service" in target:
            target["service"] = target["sink_service"]
        else:
            target["addr"] = target["sink_addr"]
    u0, s0 = user_system(server["pid"])
    run.loadgen("bulk", target, "--bytes", nbytes, *(["--duplex"] if duplex else []))
    u1, s1 = user_system(server["pid"])
    gib = nbytes * (2 if duplex else 1) / 2**30
    return (u1 - u0) / gib, (s1 - s0) / gib


def aes_seconds_per_gib():
    out = subprocess.run(["taskset", "-c", run.SERVER_CORE, "openssl", "speed", "-evp", "aes-128-gcm",
                          "-bytes", "16384", "-seconds", "3"],
                         capture_output=True, text=True, check=True).stdout
    line = [l for l in out.splitlines() if l.upper().startswith("AES-128-GCM")][-1]
    kbytes_per_s = float(re.findall(r"([\d.]+)k", line)[-1])
    return 2**30 / (kbytes_per_s * 1000)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(run.ROOT / "target" / "release" / "cloudgate"))
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--bytes", type=int, default=1 << 30,
                    help="bytes per measured run (CPU times are read in 10 ms ticks: keep it large)")
    args = ap.parse_args()
    run.ensure_peers()
    run.CG = Path(args.build).resolve()
    started = time.monotonic()
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        w = run.World(Path(tmp), "ecdsa-p256")
        try:
            peers = w.servers()
            servers = {"cloudgate": peers["cloudgate"], "nginx": peers["nginx"]}
            for duplex in (False, True):
                for name, s in servers.items():
                    bulk(s, 32 << 20, duplex)  # warm-up, unmeasured
                runs = {n: [] for n in servers}
                for _ in range(args.rounds):
                    for n, s in servers.items():
                        runs[n].append(bulk(s, args.bytes, duplex))
                results[duplex] = runs
            aes = statistics.median(aes_seconds_per_gib() for _ in range(3))
        finally:
            w.close()

    print(f"\n### The floor of bulk CPU ({time.monotonic() - started:.0f} s; ECDSA P-256, AES-128-GCM; "
          f"medians of {args.rounds} rounds; load average {open('/proc/loadavg').read().split()[0]} at the end)\n")
    print("| case | server | user s/GiB | system s/GiB | total s/GiB | ÷ nginx |")
    print("|---|---|---:|---:|---:|---:|")
    for duplex, runs in results.items():
        case = "both ways" if duplex else "one way"
        med = {n: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs))
               for n, rs in runs.items()}
        nginx_total = sum(med["nginx"])
        for n, (u, s) in med.items():
            print(f"| {case} | {n} | {u:.2f} | {s:.2f} | {u + s:.2f} | {(u + s) / nginx_total:.2f} |")
        kernel = min(s for _, s in med.values())
        # A server's user time includes its AES, so AES costs no more than the lowest user time,
        # whatever `openssl speed` says of this build of OpenSSL.
        cipher = min(aes, min(u for u, _ in med.values()))
        print(f"| {case} | floor: kernel TCP alone | - | {kernel:.2f} | {kernel:.2f} | "
              f"{kernel / nginx_total:.2f} |")
        print(f"| {case} | floor: kernel TCP + AES {cipher:.2f} | - | - | {kernel + cipher:.2f} | "
              f"{(kernel + cipher) / nginx_total:.2f} |")


if __name__ == "__main__":
    main()
