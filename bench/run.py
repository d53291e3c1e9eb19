#!/usr/bin/env python3
"""Side-by-side benchmark of the cloudgate gateway against its peers (issue 6).

Starts, on loopback, the cloudgate gateway, stunnel4 (TLS server mode), nginx `stream` with
`ssl` (one process) and the bare rustls server of `cloudgate-loadgen`, all on the same
certificate, all asking for and verifying the tenant's client certificate, all relaying to the
same echo (or sink) backend. Servers run on core 0 (`taskset -c 0`), the load generator and
the backends on core 1. Each case runs REPEAT rounds, every server once per round (so that the
machine's drift falls on all alike); the table gives medians, the server's CPU
time per operation (utime + stime from /proc/PID/stat) and ratios to cloudgate (each the
median of the rounds' ratios, the two servers of a pair measured in the same round).

Usage (root, for apt and the file-descriptor limit):
    python3 bench/run.py [--repeat 3] [--seconds 5] [--idle 10000] [--bulk-bytes N]
                         [--key-types rsa-2048,ecdsa-p256] [--only rate,resume,bulk,idle,scaling]

Nothing here is a test; CI does not run it. Results go to stdout as markdown.
"""

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CG = ROOT / "target/release/cloudgate"
LG = ROOT / "target/release/cloudgate-loadgen"
HZ = os.sysconf("SC_CLK_TCK")
SERVER_CORE = "0"
# The gateway's TLS 1.3 suite order (crates/gateway/src/tls.rs), given to every peer too, so that
# all of them do the same work.
SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
LOAD_CORE = "1"


def sh(*args, **kw):
    return subprocess.run([str(a) for a in args], check=True, capture_output=True, text=True, **kw)


def ensure_peers():
    need = [p for p, c in (("stunnel4", "stunnel4"), ("nginx-light", "nginx")) if not shutil.which(c)]
    if not Path("/usr/lib/nginx/modules/ngx_stream_module.so").exists():
        need.append("libnginx-mod-stream")
    if need:
        print(f"installing {' '.join(need)}", file=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", *need], check=True,
                       env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def rss_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start(args, env=None, core=SERVER_CORE, log=None):
    p = subprocess.Popen(["taskset", "-c", core, *map(str, args)], env=env,
                         stdout=subprocess.PIPE, stderr=log or subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    return p, line


def addr_in(line):
    for w in line.split():
        if w.startswith("127.0.0.1:"):
            return w
    raise RuntimeError(f"no address in {line!r}")


def wait_port(port):
    import socket
    for _ in range(100):
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def loadgen(mode, server, *extra, core=LOAD_CORE):
    target = ["--target", server["addr"], "--server-cert", server["cert"],
              "--client-cert", server["client_cert"], "--client-key", server["client_key"],
              "--sources", "64"]
    if server.get("service"):
        target += ["--service", server["service"]]
    out = sh("taskset", "-c", core, LG, mode, *target, *map(str, extra))
    return json.loads(out.stdout.strip().splitlines()[-1])


class World:
    """One key type: SP data, client identity, backends and the four servers."""

    def __init__(self, work, key_type, tenants=1, gateway_conf=""):
        self.work = work / key_type
        # More lines of the gateway's configuration file (e.g. throttle limits).
        self.gateway_conf = gateway_conf
        self.work.mkdir(mode=0o700)
        # The gateway logs as in production (information level: a line per tunnel, when it
        # closed), to a file.
        self.env = {**os.environ, "CLOUDGATE_HOME": str(self.work / "sp")}
        self.env.pop("CLOUDGATE_LOG", None)
        self.procs = []
        # server name -> (full-handshake rate, CPU µs per tunnel), for the resumed case
        self.full_rates = {}
        (self.work / "sp").mkdir(mode=0o700)
        lic = self.work / "license.toml"
        lic.write_text('licensed_to = "Benchmark"\n')
        sh(CG, "sp", "license", "install", lic, env=self.env)
        thumb = json.loads(sh(CG, "sp", "cert", "generate", "--key-type", key_type, "--san",
                              "localhost", "--apply", "--json", env=self.env).stdout)["thumbprint"]
        self.combined = self.work / "sp-with-key.pem"
        sh(CG, "sp", "cert", "export", thumb, "--format", "pem", "--with-key", "--out",
           self.combined, env=self.env)
        self.cert = self.work / "sp.pem"
        sh(CG, "sp", "cert", "export", thumb, "--format", "pem", "--out", self.cert, env=self.env)
        self.echo = self.backend("echo")
        self.sink = self.backend("sink")
        pw = self.work / "pw"
        pw.write_text("bench password 1\n")
        sh(CG, "sp", "tenant", "add", "bench0", "--password-file", pw, env=self.env)
        sh(CG, "sp", "tenant", "service", "add", "bench0", "echo", self.echo, env=self.env)
        sh(CG, "sp", "tenant", "service", "add", "bench0", "sink", self.sink, env=self.env)
        self.gateway = self.start_gateway()
        ids = self.work / "ids"
        sh(LG, "enroll", "--target", self.gateway_addr, "--server-cert", self.cert, "--prefix",
           "bench", "--password-file", pw, "--count", 1, "--out", ids)
        self.client_cert, self.client_key = ids / "0.cert.pem", ids / "0.key.pem"

    def backend(self, kind):
        p, line = start([LG, kind, "--listen", "127.0.0.1:0"], core=LOAD_CORE)
        self.procs.append(p)
        return addr_in(line)

    def start_gateway(self):
        port = free_port()
        conf = self.work / "gw.toml"
        conf.write_text(f'listen = "127.0.0.1:{port}"\nmax_connections = 100000\n'
                        'max_connections_per_address = 100000\n' + self.gateway_conf)
        p, line = start([CG, "sp", "gateway", "run", "--config", conf], env=self.env,
                        log=open(self.work / "gateway.log", "w"))
        self.procs.append(p)
        self.gateway_addr = addr_in(line)
        return p

    def add_filler_tenants(self, n):
        """n more enrolled tenants straight into the database (what enrollment writes)."""
        db = sqlite3.connect(self.work / "sp" / "sp.db")
        now = "2026-01-01T00:00:00Z"
        have = db.execute("SELECT COUNT(*) FROM tenants").fetchone()[0]
        rows = [(f"filler{have + i}",) for i in range(n)]
        db.executemany("INSERT INTO tenants (name, password_hash, created_at, updated_at) "
                       "VALUES (?, 'x', '" + now + "', '" + now + "')", rows)
        db.executemany("INSERT INTO client_certs (sha256, tenant, cert_der, enrolled_at) "
                       "VALUES (?, ?, x'00', '" + now + "')",
                       [(os.urandom(32).hex().upper(), r[0]) for r in rows])
        db.execute("UPDATE state_version SET version = version + 1")
        db.commit()
        db.close()
        time.sleep(3)  # the gateway reloads within its 2 s interval

    def servers(self):
        """name -> server description for the load generator (started lazily)."""
        if hasattr(self, "_servers"):
            return self._servers
        common = {"cert": self.cert, "client_cert": self.client_cert, "client_key": self.client_key}
        s = {"cloudgate": {**common, "pid": self.gateway.pid, "addr": self.gateway_addr,
                           "service": "echo", "sink_service": "sink"}}
        # stunnel: one thread per connection, verifies the client certificate against itself.
        st_echo, st_sink = free_port(), free_port()
        conf = self.work / "stunnel.conf"
        conf.write_text(f"""foreground = yes
pid =
debug = 0
[echo]
accept = 127.0.0.1:{st_echo}
connect = {self.echo}
cert = {self.combined}
verifyPeer = yes
CAfile = {self.client_cert}
sslVersionMin = TLSv1.2
ciphersuites = {SUITES}
options = CIPHER_SERVER_PREFERENCE
[sink]
accept = 127.0.0.1:{st_sink}
connect = {self.sink}
cert = {self.combined}
verifyPeer = yes
CAfile = {self.client_cert}
ciphersuites = {SUITES}
options = CIPHER_SERVER_PREFERENCE
""")
        p = subprocess.Popen(["taskset", "-c", SERVER_CORE, "stunnel4", str(conf)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_port(st_echo)
        s["stunnel"] = {**common, "pid": p.pid, "addr": f"127.0.0.1:{st_echo}",
                        "sink_addr": f"127.0.0.1:{st_sink}"}
        # nginx stream, one process, session cache and tickets on.
        ng_echo, ng_sink = free_port(), free_port()
        conf = self.work / "nginx.conf"
        ssl = f"""ssl_certificate {self.combined};
        ssl_certificate_key {self.combined};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_verify_client optional_no_ca;
        ssl_session_cache shared:SSL:16m;
        ssl_prefer_server_ciphers on;
        ssl_conf_command Options ServerPreference;
        ssl_conf_command Ciphersuites {SUITES};"""
        conf.write_text(f"""load_module /usr/lib/nginx/modules/ngx_stream_module.so;
daemon off;
master_process off;
worker_processes 1;
worker_rlimit_nofile 200000;
pid {self.work}/nginx.pid;
error_log {self.work}/nginx.err warn;
events {{ worker_connections 100000; }}
stream {{
    server {{ listen 127.0.0.1:{ng_echo} ssl; {ssl} proxy_pass {self.echo}; }}
    server {{ listen 127.0.0.1:{ng_sink} ssl; {ssl} proxy_pass {self.sink}; }}
}}
""")
        p = subprocess.Popen(["taskset", "-c", SERVER_CORE, "nginx", "-c", str(conf), "-p", str(self.work)],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        wait_port(ng_echo)
        s["nginx"] = {**common, "pid": p.pid, "addr": f"127.0.0.1:{ng_echo}",
                      "sink_addr": f"127.0.0.1:{ng_sink}"}
        p, line = start([LG, "bare", "--listen", "127.0.0.1:0", "--cert", self.combined,
                         "--key", self.combined])
        self.procs.append(p)
        s["bare rustls"] = {**common, "pid": p.pid, "addr": addr_in(line)}
        p, line = start([LG, "bare", "--listen", "127.0.0.1:0", "--cert", self.combined,
                         "--key", self.combined, "--backend", self.echo])
        self.procs.append(p)
        s["bare rustls + backend"] = {**common, "pid": p.pid, "addr": addr_in(line)}
        self._servers = s
        return s

    def close(self):
        for p in self.procs:
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()


def measured(server, fn):
    before = cpu_seconds(server["pid"])
    r = fn()
    r["server_cpu_s"] = cpu_seconds(server["pid"]) - before
    return r


def interleaved(servers, repeat, run_one, warm_up=None):
    """name -> list of measured runs, taken round by round (every server once per round).

    This machine's speed drifts by 10-25% over minutes; measuring the servers in turn, rather
    than one server's repeats back to back, lets that drift fall on all of them alike, so the
    ratios hold better than the absolute figures. `warm_up(server)`, when given, runs once per
    server first, unmeasured, so that no server's first round pays for its caches and heap.
    """
    if warm_up:
        for server in servers.values():
            warm_up(server)
    runs = {name: [] for name in servers}
    for _ in range(repeat):
        for name, server in servers.items():
            runs[name].append(measured(server, lambda: run_one(server)))
    return runs


def per_tunnel(run):
    return run["server_cpu_s"] / max(run["ops"], 1)


def paired_ratio(ours, theirs, value):
    """Median over the rounds of value(ours) / value(theirs), each round's pair measured together."""
    return statistics.median(value(a) / value(b) for a, b in zip(ours, theirs))


def median_of(runs, key):
    return statistics.median(r[key] for r in runs)


def table(title, header, rows):
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")
    sys.stdout.flush()


def rate_case(world, args, resume):
    rows = []

    def rate_run(server, seconds):
        extra = ["--concurrency", 16, "--seconds", seconds, "--payload", 16]
        return loadgen("rate", server, *extra, *(["--resume"] if resume else []))

    servers = world.servers()
    all_runs = interleaved(servers, args.repeat, lambda server: rate_run(server, args.seconds),
                           warm_up=lambda server: rate_run(server, 1))
    for name in servers:
        runs = all_runs[name]
        rate = median_of(runs, "rate")
        cpu_us = statistics.median(per_tunnel(r) * 1e6 for r in runs)
        resumed = statistics.median(r["resumed"] / max(r["ops"], 1) for r in runs)
        errors = sum(r["errors"] for r in runs)
        row = [name, f"{rate:,.0f}", f"{cpu_us:,.0f}", f"{median_of(runs, 'p99_ms'):.1f}",
               f"{resumed:.0%}", errors,
               f"{paired_ratio(all_runs['cloudgate'], runs, per_tunnel):.2f}" if name != "cloudgate" else "-"]
        full = world.full_rates
        if not resume:
            full[name] = (rate, cpu_us)
        elif name in full:
            # The rate is bounded by the one core of load as well as by the server; the ratio
            # of server CPU per tunnel says what the server itself gains.
            row += [f"{rate / full[name][0]:.2f}", f"{full[name][1] / cpu_us:.2f}"]
        rows.append(row)
    return rows


def bulk_case(world, args, duplex):
    rows = []
    servers = {name: server for name, server in world.servers().items() if not name.startswith("bare")}
    extra = ["--bytes", args.bulk_bytes] + (["--duplex"] if duplex else [])

    def one(server):
        target = dict(server)
        if not duplex:
            if "sink_service" in target:
                target["service"] = target["sink_service"]
            else:
                target["addr"] = target["sink_addr"]
        return loadgen("bulk", target, *extra)

    all_runs = interleaved(servers, args.repeat, one)
    cg = all_runs["cloudgate"]
    for name in servers:
        runs = all_runs[name]
        mbs = median_of(runs, "mb_per_s_each_way")
        gib = args.bulk_bytes * (2 if duplex else 1) / 2**30
        cpu_per_gib = statistics.median(r["server_cpu_s"] for r in runs) / gib
        rows.append((name, f"{mbs:,.0f}", f"{cpu_per_gib:.2f}",
                     f"{paired_ratio(cg, runs, lambda r: r['server_cpu_s']):.2f}" if name != "cloudgate" else "-",
                     f"{paired_ratio(cg, runs, lambda r: r['mb_per_s_each_way']):.2f}" if name != "cloudgate" else "-"))
    return rows


def idle_case(world, args):
    rows = []
    for name, server in world.servers().items():
        if name.startswith("bare"):
            continue
        before = rss_kib(server["pid"])
        target = ["--target", server["addr"], "--server-cert", server["cert"], "--client-cert",
                  server["client_cert"], "--client-key", server["client_key"], "--sources", "64"]
        if server.get("service"):
            target += ["--service", server["service"]]
        p = subprocess.Popen(["taskset", "-c", LOAD_CORE, str(LG), "idle", *map(str, target),
                              "--count", str(args.idle)], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
        report = json.loads(p.stdout.readline())
        time.sleep(1)
        after = rss_kib(server["pid"])
        p.stdin.close()
        p.wait()
        per = (after - before) / max(report["open"], 1)
        rows.append((name, report["open"], report["errors"], f"{report['seconds_to_open']:.1f}",
                     f"{before / 1024:.1f}", f"{after / 1024:.1f}", f"{per:.1f}"))
        time.sleep(2)
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--bulk-bytes", type=int, default=1 << 30)
    ap.add_argument("--key-types", default="rsa-2048,ecdsa-p256")
    ap.add_argument("--only", default="rate,resume,bulk,idle,scaling")
    args = ap.parse_args()
    only = set(args.only.split(","))
    ensure_peers()
    # 10,000 idle tunnels need 20,000 descriptors in each server (client and backend side).
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (200_000, 200_000))
    except (ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    subprocess.run(["cargo", "build", "--release", "--quiet", "-p", "cloudgate", "-p", "cloudgate-bench"],
                   cwd=ROOT, check=True)
    stunnel = next((l for l in subprocess.run(["stunnel4", "-version"], capture_output=True,
                                              text=True).stderr.splitlines()
                    if l.startswith("stunnel")), "stunnel4")
    nginx = subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    print(f"# cloudgate benchmarks\n\n{os.cpu_count()} cores, servers on core {SERVER_CORE}, load on "
          f"core {LOAD_CORE}; {sh('openssl', 'version').stdout.strip()}; {stunnel.strip()}; {nginx}; "
          f"medians of {args.repeat} runs of {args.seconds} s.")
    with tempfile.TemporaryDirectory() as tmp:
        for key_type in args.key_types.split(","):
            world = World(Path(tmp), key_type)
            try:
                hdr = ["server", "tunnels/s", "server CPU µs/tunnel", "p99 ms", "resumed", "errors",
                       "cloudgate CPU / this"]
                if "rate" in only:
                    table(f"New tunnels, {key_type} (full TLS 1.3 handshake with client certificate, "
                          "tunnel request, 16-byte echo, close; 16 clients)", hdr, rate_case(world, args, False))
                if "resume" in only:
                    table(f"Resumed tunnels, {key_type} (TLS 1.3 resumption)",
                          hdr + ["rate / full rate", "full CPU / resumed CPU"], rate_case(world, args, True))
                if "bulk" in only and key_type == "ecdsa-p256":
                    bh = ["server", "MB/s each way", "server CPU s/GiB", "cloudgate CPU / this", "cloudgate MB/s / this"]
                    table(f"Bulk, one way ({args.bulk_bytes >> 20} MiB into a sink)", bh, bulk_case(world, args, False))
                    table(f"Bulk, both ways at once ({args.bulk_bytes >> 20} MiB each way)", bh, bulk_case(world, args, True))
                if "idle" in only and key_type == "ecdsa-p256":
                    table(f"Idle tunnels ({args.idle:,}, backend connections included)",
                          ["server", "open", "errors", "s to open", "RSS before MiB", "RSS after MiB", "KiB/tunnel"],
                          idle_case(world, args))
                if "scaling" in only and key_type == "ecdsa-p256":
                    rows = []
                    gw = world.servers()["cloudgate"]
                    for total in (1, 100, 10000):
                        have = 1 if not rows else int(rows[-1][0].replace(",", ""))
                        if total > have:
                            world.add_filler_tenants(total - have)
                        runs = [measured(gw, lambda: loadgen("rate", gw, "--concurrency", 16, "--seconds",
                                                             args.seconds, "--payload", 16))
                                for _ in range(args.repeat)]
                        cpu_us = statistics.median(r["server_cpu_s"] / max(r["ops"], 1) * 1e6 for r in runs)
                        rows.append((f"{total:,}", f"{median_of(runs, 'rate'):,.0f}", f"{cpu_us:,.0f}",
                                     f"{rss_kib(gw['pid']) / 1024:.1f}"))
                    table("Scaling with enrolled tenants (new tunnels, ecdsa-p256)",
                          ["enrolled tenants", "tunnels/s", "server CPU µs/tunnel", "gateway RSS MiB"], rows)
            finally:
                world.close()
        if "scaling" in only:
            rows = []
            for n in (10, 10000):
                home = Path(tmp) / f"list{n}"
                home.mkdir(mode=0o700)
                env = {**os.environ, "CLOUDGATE_HOME": str(home)}
                (home / "license.toml").write_text('licensed_to = "Benchmark"\n')
                sh(CG, "sp", "license", "install", home / "license.toml", env=env)
                for _ in range(n):
                    sh(CG, "sp", "cert", "generate", "--key-type", "ecdsa-p256", env=env)
                times = []
                for _ in range(5):
                    t = time.perf_counter()
                    sh(CG, "sp", "cert", "list", "--json", env=env)
                    times.append(time.perf_counter() - t)
                rows.append((f"{n:,}", f"{statistics.median(times) * 1000:.0f}"))
            table("`sp cert list --json` with a large store", ["entries", "ms (median of 5)"], rows)


if __name__ == "__main__":
    main()
