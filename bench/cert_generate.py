#!/usr/bin/env python3
"""Certificate generation, whole process: `cloudgate sp cert generate` vs `openssl req -x509`.

Runs both side by side in one run (interleaved, so machine noise hits both alike), for RSA-2048
and ECDSA P-256, and prints a markdown table of medians and the ratio cloudgate/openssl.
Each cloudgate run writes a complete store entry (key created 0600, fsynced, renamed); each
openssl run writes a key file and a certificate file.

Usage: bench/cert_generate.py [--runs N] [--bin target/release/cloudgate]
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

CASES = [
    ("rsa-2048", ["-newkey", "rsa:2048"]),
    ("ecdsa-p256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
]


def timed(cmd, env=None):
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return (time.perf_counter() - start) * 1000.0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--bin", default=os.path.join(os.path.dirname(__file__), "..", "target", "release", "cloudgate"))
    args = ap.parse_args()
    if not os.path.exists(args.bin):
        sys.exit(f"{args.bin} not found: run `cargo build --release` first")
    openssl_version = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CLOUDGATE_HOME=os.path.join(tmp, "data"))
        lic = os.path.join(tmp, "license.toml")
        with open(lic, "w") as f:
            f.write('licensed_to = "Acme"\n')
        subprocess.run([args.bin, "sp", "license", "install", lic], check=True, env=env, stdout=subprocess.DEVNULL)
        for key_type, openssl_key in CASES:
            ours, theirs = [], []
            for i in range(args.runs):
                cg = [args.bin, "sp", "cert", "generate", "--key-type", key_type, "--san", "gw.example.com"]
                ossl = ["openssl", "req", "-x509", *openssl_key, "-nodes", "-sha256", "-days", "365",
                        "-subj", "/CN=Acme/O=Acme/OU=Acme", "-addext", "subjectAltName=DNS:gw.example.com",
                        "-keyout", os.path.join(tmp, f"k{i}.pem"), "-out", os.path.join(tmp, f"c{i}.pem")]
                # Alternate which goes first so neither always runs on a warmer machine.
                if i % 2 == 0:
                    ours.append(timed(cg, env))
                    theirs.append(timed(ossl))
                else:
                    theirs.append(timed(ossl))
                    ours.append(timed(cg, env))
            rows.append((key_type, statistics.median(ours), statistics.median(theirs)))

    print(f"Certificate generation, whole process, median of {args.runs} runs each ({os.cpu_count()} cores, {openssl_version})\n")
    print("| key type | cloudgate sp cert generate | openssl req -x509 -newkey | ratio (cloudgate/openssl) |")
    print("| --- | ---: | ---: | ---: |")
    for key_type, ours, theirs in rows:
        print(f"| {key_type} | {ours:.1f} ms | {theirs:.1f} ms | {ours / theirs:.2f}x |")


if __name__ == "__main__":
    main()
