#!/bin/sh
# Scans a running cloudgate gateway with testssl.sh (Debian package testssl.sh) for each
# certificate key type, and fails unless: no finding of severity LOW or worse, no protocol older
# than TLS 1.2 offered, only AEAD cipher suites, no weak key exchange.
#
# Usage: sh security/testssl.sh            (builds the release binary if needed;
#        CLOUDGATE_BIN=path/to/cloudgate picks another build, as the test in tests/it does)
# Needs: testssl (apt-get install testssl.sh), openssl, jq-free (uses python3 to read the JSON).
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${CLOUDGATE_BIN:-"$root/target/release/cloudgate"}
[ -x "$bin" ] || (cd "$root" && cargo build --release)
command -v testssl >/dev/null || { echo "testssl not found: apt-get install testssl.sh" >&2; exit 1; }
work=$(mktemp -d)
out="$root/target/testssl"
mkdir -p "$out"
gw_pid=
cleanup() { [ -n "$gw_pid" ] && kill "$gw_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
status=0
for kind in rsa-2048 ecdsa-p256; do
  home="$work/$kind"
  mkdir -m 700 "$home"
  printf 'licensed_to = "testssl scan"\n' >"$work/license.toml"
  CLOUDGATE_HOME="$home" "$bin" sp license install "$work/license.toml" >/dev/null
  CLOUDGATE_HOME="$home" "$bin" sp cert generate --key-type "$kind" --san localhost --apply >/dev/null
  CLOUDGATE_HOME="$home" "$bin" sp gateway run --listen 127.0.0.1:0 >"$work/addr" 2>"$work/gw-$kind.log" &
  gw_pid=$!
  for _ in $(seq 50); do [ -s "$work/addr" ] && break; sleep 0.1; done
  addr=$(grep -o '127\.0\.0\.1:[0-9]*' "$work/addr" | head -1)
  echo "== $kind certificate, gateway at $addr"
  rm -f "$out/$kind.json"
  testssl --quiet --color 0 --warnings off --jsonfile "$out/$kind.json" --protocols --std --fs \
    --server-preference --vulnerable --headers "$addr" >"$out/$kind.txt" 2>&1 || true
  rm -f "$out/$kind.json.old"
  python3 - "$out/$kind.json" <<'PY' || status=1
import json, sys
findings = json.load(open(sys.argv[1]))
bad = []
for f in findings:
    sev, fid, text = f.get("severity", ""), f.get("id", ""), f.get("finding", "")
    if sev in ("LOW", "MEDIUM", "HIGH", "CRITICAL"):
        bad.append(f"{sev} {fid}: {text}")
    if fid in ("SSLv2", "SSLv3", "TLS1", "TLS1_1") and "not offered" not in text:
        bad.append(f"protocol {fid} is offered: {text}")
    if fid.startswith("cipherorder_") or fid.startswith("cipher-tls"):
        if "CBC" in text or "SHA " in text or "RC4" in text or "3DES" in text:
            bad.append(f"non-AEAD cipher: {fid}: {text}")
offered = [f["id"] for f in findings if f["id"] in ("TLS1_2", "TLS1_3") and f["finding"].startswith("offered")]
ciphers = sorted({f["finding"] for f in findings if f["id"].startswith("cipher-tls")})
print("  protocols offered:", ", ".join(offered))
print("  findings LOW or worse:", len(bad))
for b in bad:
    print("   ", b)
counts = {}
for f in findings:
    counts[f.get("severity", "?")] = counts.get(f.get("severity", "?"), 0) + 1
print("  severities:", ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
sys.exit(1 if bad or "TLS1_3" not in offered else 0)
PY
  kill "$gw_pid"; wait "$gw_pid" 2>/dev/null || true; gw_pid=
  : >"$work/addr"
done
[ "$status" = 0 ] && echo "testssl: no finding LOW or worse for either key type" || echo "testssl: FINDINGS above; full reports in $out/" >&2
exit $status
