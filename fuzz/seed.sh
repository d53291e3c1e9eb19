#!/bin/sh
# Writes a small seed corpus for every fuzz target into fuzz/seeds/<target>/ with openssl.
# Run from anywhere: sh fuzz/seed.sh
set -eu
here=$(cd "$(dirname "$0")" && pwd)
seeds="$here/seeds"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$seeds"/pem "$seeds"/der_certificate "$seeds"/pkcs12 "$seeds"/key_material \
  "$seeds"/license "$seeds"/thumbprint "$seeds"/enroll_body "$seeds"/gateway_request "$seeds"/rollover_proof
cd "$tmp"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 -subj "/CN=sp.example/O=Seed" \
  -addext "subjectAltName=DNS:sp.example,IP:127.0.0.1" -keyout ec.key -out ec.pem 2>/dev/null
openssl req -x509 -newkey ed25519 -nodes -days 30 -subj "/CN=ed" -keyout ed.key -out ed.pem 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=rsa" -keyout rsa.key -out rsa.pem 2>/dev/null
openssl ec -in ec.key -out ec-sec1.key 2>/dev/null
cp ec.pem ed.pem rsa.pem "$seeds/pem/"
cat ec.pem ec.key > "$seeds/pem/ec-with-key.pem"
cp ec-sec1.key "$seeds/pem/ec-sec1.key"
for k in ec ed rsa; do openssl x509 -in $k.pem -outform der -out "$seeds/der_certificate/$k.der"; done
openssl pkcs12 -export -in ec.pem -inkey ec.key -name seed -passout pass: -out "$seeds/pkcs12/ec-empty.pfx"
openssl pkcs12 -export -in ec.pem -inkey ec.key -name seed -passout pass:password -out "$seeds/pkcs12/ec-aes.pfx"
openssl pkcs12 -export -legacy -in ed.pem -inkey ed.key -passout pass:password -out "$seeds/pkcs12/ed-legacy.pfx" 2>/dev/null \
  || openssl pkcs12 -export -in ed.pem -inkey ed.key -descert -passout pass:password -out "$seeds/pkcs12/ed-legacy.pfx"
cp "$seeds/pkcs12/ec-empty.pfx" "$seeds/key_material/0-pfx"
{ printf '\000'; cat ec.pem ec.key; } > "$seeds/key_material/0-pem"
{ printf '\000'; cat "$seeds/der_certificate/ec.der"; } > "$seeds/key_material/0-der"
printf 'licensed_to = "Example Backup Ltd"\nexpires = 2030-01-31\nedition = "enterprise"\nlicense_id = "L-1"\n' > "$seeds/license/full.toml"
printf 'licensed_to = "Solo"\n' > "$seeds/license/min.toml"
printf '3F:2A:9C:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:01' > "$seeds/thumbprint/sha1"
printf '\342\200\216AB12CD34EF56' > "$seeds/thumbprint/prefix"
printf 'sha256//AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=' > "$seeds/thumbprint/pin"
python3 - "$seeds" ec.pem <<'PY'
import json, sys, base64
seeds, pem = sys.argv[1], open(sys.argv[2]).read()
body = json.dumps({"client_cert_pem": pem})
open(f"{seeds}/enroll_body/ok.json", "w").write(body)
open(f"{seeds}/enroll_body/basic", "w").write("Basic " + base64.b64encode(b"acme:s3cret").decode())
req = lambda head, b="": (head.replace("\n", "\r\n") + b).encode()
open(f"{seeds}/gateway_request/provider", "wb").write(req("GET /v1/provider HTTP/1.1\nHost: sp\n\n"))
open(f"{seeds}/gateway_request/enroll", "wb").write(req(
    "POST /v1/enroll HTTP/1.1\nHost: sp\nAuthorization: Basic YWNtZTpzM2NyZXQ=\nContent-Type: application/json\n"
    f"Content-Length: {len(body)}\n\n", body))
open(f"{seeds}/gateway_request/chunked", "wb").write(req(
    "POST /v1/enroll HTTP/1.1\nHost: sp\nTransfer-Encoding: chunked\n\n", "5\r\n{\"a\":\r\n0\r\n\r\n"))
open(f"{seeds}/gateway_request/tunnel", "wb").write(req(
    "GET /v1/tunnel/backup HTTP/1.1\nHost: sp\nConnection: Upgrade\nUpgrade: cloudgate-tunnel\n\nraw bytes"))
proof = {"version": 2, "from_spki_sha256": "AB" * 32, "to_sha256": "cd" * 32, "signed_at": 1790000000,
         "signature": base64.b64encode(bytes(range(64))).decode()}
open(f"{seeds}/rollover_proof/proof.json", "w").write(json.dumps(proof))
open(f"{seeds}/rollover_proof/published.json", "w").write(json.dumps({
    "successor": {"from_spki_sha256": "AB" * 32, "certificate_pem": "-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n",
                  "proof": proof, "compromised": False},
    "chain": [{"from_spki_sha256": "cd" * 32, "certificate_pem": "", "proof": None, "compromised": True}]}))
PY
python3 - "$seeds" <<'PY'
import hashlib, base64, os, sys
seeds = sys.argv[1]
os.makedirs(f"{seeds}/join_token", exist_ok=True)
def tok(pins, addrs):
    b = bytes([1]) + bytes(range(16)) + bytes(range(32, 64)) + bytes([len(pins)]) + b"".join(pins) + bytes([len(addrs)])
    for a in addrs:
        b += bytes([len(a)]) + a.encode()
    b += hashlib.sha256(b).digest()[:4]
    return "cgt1." + base64.urlsafe_b64encode(b).decode().rstrip("=")
open(f"{seeds}/join_token/one", "w").write(tok([b"\x07" * 32], ["backup.example.com:6180"]))
open(f"{seeds}/join_token/two", "w").write(tok([b"\x07" * 32, b"\x09" * 32], ["sp:6180", "[2001:db8::1]:6180"]))
open(f"{seeds}/join_token/bearer", "w").write("Bearer " + "ab" * 16 + "." + base64.urlsafe_b64encode(bytes(32)).decode().rstrip("="))
PY
echo "seeds written to $seeds"
