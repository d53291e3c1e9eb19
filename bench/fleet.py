#!/usr/bin/env python3
"""The gateway fleet on PostgreSQL, measured (issue 18).

Cases, each printed as a markdown table:

  repository  new-tunnel rate and gateway CPU per tunnel, SQLite against PostgreSQL, rounds
              interleaved (the ratio is the median of the rounds' ratios);
  scale       on PostgreSQL, at 1 tenant and at --tenants: the tunnel rate, the gateway's
              memory per tenant (its RSS, and its state counted in-process by
              cloudgate-state-memory), one change (`sp tenant disable|enable` of one tenant)
              seen by the gateway: p50/p99 from the command's return to the first `tenant
              check` that sees it, and the gateway's CPU per change over --cpu-changes
              changes with nothing else talking to it (its idle CPU taken off);
  memory      on PostgreSQL, the gateway's memory per tenant from fresh starts: for 1 tenant
              and for --tenants, a gateway started --repeat times on the database and left
              alone (no enrollment, no tunnel, nothing that could inflate it), its RSS read
              --settle seconds after it started; per tenant = (median RSS at --tenants −
              median RSS at 1) / (--tenants − 1);
  failover    two gateways, a running `tenant tunnel`, `kill -9` of the gateway it uses:
              the time to the first byte echoed through another, median of --rounds;
  passwords   on PostgreSQL, memory after password checks: --rounds rounds of --checks
              enrollments (half with a wrong password, 8 at once from 8 addresses, throttles
              raised so that every one runs argon2), the gateway's RSS --settle seconds after
              each round against its RSS before the first (bench/ab.py --case passwords does
              the same on SQLite, two builds side by side).

Usage (root; needs a PostgreSQL role that may create databases, as the tests do):
    cargo build --release -p cloudgate -p cloudgate-bench
    python3 bench/fleet.py --database postgres://USER:PASSWORD@127.0.0.1/postgres \
        [--tenants 100000] [--seconds 5] [--repeat 3] [--changes 20] [--rounds 10] \
        [--only repository,scale,memory,failover,passwords] [--settle 8] [--checks 50]

Nothing here is a test; CI does not run it.
"""

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from run import CG, LG, cpu_seconds, free_port, rss_kib, sh, start, addr_in  # noqa: E402

PASSWORD = "bench password 1"
SM = ROOT / "target" / "release" / "cloudgate-state-memory"


def new_database(url):
    name = f"cg_bench_{os.getpid()}_{int(time.time() * 1000) % 10**9}"
    sh("psql", url, "-qc", f"CREATE DATABASE {name}")
    base = url.split("?")[0].rsplit("/", 1)[0]
    return f"{base}/{name}"


class Sp:
    """One SP: data directory, certificate, tenant bench0 with an echo service; SQLite, or
    PostgreSQL with the fleet key and the certificate published."""

    def __init__(self, work, database=None):
        self.work = work
        self.work.mkdir(mode=0o700)
        self.data = work / "sp"
        self.data.mkdir(mode=0o700)
        self.env = {**os.environ, "CLOUDGATE_HOME": str(self.data)}
        self.env.pop("CLOUDGATE_LOG", None)
        self.database = database
        self.conf_extra = f'database = "{database}"\n' if database else ""
        (self.data / "gateway.toml").write_text(self.conf_extra)
        (self.data / "gateway.toml").chmod(0o600)
        self.procs = []
        lic = work / "license.toml"
        lic.write_text('licensed_to = "Benchmark"\n')
        self.cg("sp", "license", "install", lic)
        self.thumbprint = json.loads(self.cg("sp", "cert", "generate", "--key-type", "ecdsa-p256",
                                             "--san", "localhost", "--apply", "--json"))["thumbprint"]
        self.cert = work / "sp.pem"
        self.cg("sp", "cert", "export", self.thumbprint, "--format", "pem", "--out", self.cert)
        if database:
            self.cg("sp", "fleet", "init")
        p, line = start([LG, "echo", "--listen", "127.0.0.1:0"], core="1")
        self.procs.append(p)
        self.echo = addr_in(line)
        self.pw = work / "pw"
        self.pw.write_text(PASSWORD + "\n")
        self.cg("sp", "tenant", "add", "bench0", "--password-file", self.pw)
        self.cg("sp", "tenant", "service", "add", "bench0", "echo", self.echo)

    def cg(self, *args):
        return sh(CG, *args, env=self.env).stdout

    def gateway(self, name="gw", extra=(), conf_more=""):
        port = free_port()
        conf = self.work / f"{name}.toml"
        # It may hold the database's password: the gateway refuses a file others can read.
        conf.touch(mode=0o600)
        conf.write_text(self.conf_extra + f'listen = "127.0.0.1:{port}"\nmax_connections = 100000\n'
                        'max_connections_per_address = 100000\n' + conf_more)
        p, line = start([CG, "sp", "gateway", "run", "--config", conf, *extra], env=self.env,
                        log=open(self.work / f"{name}.log", "w"))
        self.procs.append(p)
        return p, addr_in(line)

    def enroll(self, addr):
        ids = self.work / "ids"
        sh(LG, "enroll", "--target", addr, "--server-cert", self.cert, "--prefix", "bench",
           "--password-file", self.pw, "--count", 1, "--out", ids)
        return {"addr": addr, "cert": self.cert, "client_cert": ids / "0.cert.pem",
                "client_key": ids / "0.key.pem", "service": "echo"}

    def add_bulk_tenants(self, n):
        """n tenants, each with a service and an enrolled certificate, as enrollment writes them,
        and one change that makes the gateways read everything."""
        if self.database:
            sql = f"""
            BEGIN;
            INSERT INTO tenants (name, description, password_hash, enabled, created_at, updated_at)
              SELECT 'bulk' || g, '', 'x', TRUE, now(), now() FROM generate_series(1, {n}) g;
            INSERT INTO services (tenant, name, target, created_at)
              SELECT 'bulk' || g, 'repo', '127.0.0.1:9', now() FROM generate_series(1, {n}) g;
            INSERT INTO client_certs (sha256, tenant, cert_der, enrolled_at)
              SELECT upper(md5('a' || g) || md5('b' || g)), 'bulk' || g, '\\x00', now()
              FROM generate_series(1, {n}) g;
            UPDATE state_version SET version = version + 1;
            INSERT INTO state_changes (version, tenant) SELECT version, NULL FROM state_version;
            SELECT pg_notify('cloudgate_state', '');
            COMMIT;"""
            sh("psql", self.database, "-qc", sql)
        else:
            import sqlite3
            db = sqlite3.connect(self.data / "sp.db")
            now = "2026-01-01T00:00:00Z"
            rows = [(f"bulk{i}",) for i in range(n)]
            db.executemany("INSERT INTO tenants (name, password_hash, created_at, updated_at) "
                           f"VALUES (?, 'x', '{now}', '{now}')", rows)
            db.executemany("INSERT INTO client_certs (sha256, tenant, cert_der, enrolled_at) "
                           f"VALUES (?, ?, x'00', '{now}')",
                           [(os.urandom(32).hex().upper(), r[0]) for r in rows])
            db.execute("UPDATE state_version SET version = version + 1")
            db.commit()
            db.close()
        time.sleep(4)

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


def rate(server, seconds):
    out = sh("taskset", "-c", "1", LG, "rate", "--target", server["addr"], "--server-cert",
             server["cert"], "--client-cert", server["client_cert"], "--client-key",
             server["client_key"], "--sources", "64", "--service", "echo", "--concurrency", 16,
             "--seconds", seconds, "--payload", 16)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measured_rate(pid, server, seconds):
    before = cpu_seconds(pid)
    r = rate(server, seconds)
    r["cpu_us"] = (cpu_seconds(pid) - before) / max(r["ops"], 1) * 1e6
    return r


def table(title, header, rows):
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join(" --- " for _ in header) + "|")
    for r in rows:
        print("| " + " | ".join(str(c) for c in r) + " |")


def repository_case(work, args):
    sqlite, pg = Sp(work / "sqlite"), Sp(work / "pg", new_database(args.database))
    try:
        servers = {}
        for name, sp in (("SQLite", sqlite), ("PostgreSQL", pg)):
            p, addr = sp.gateway()
            servers[name] = (p, sp.enroll(addr))
            rate(servers[name][1], 1)  # warm up
        runs = {name: [] for name in servers}
        for _ in range(args.repeat):
            for name, (p, server) in servers.items():
                runs[name].append(measured_rate(p.pid, server, args.seconds))
        rows = []
        for name in servers:
            rs = runs[name]
            ratio = statistics.median(b["cpu_us"] / a["cpu_us"]
                                      for a, b in zip(runs["SQLite"], rs))
            rows.append([name, f"{statistics.median(r['rate'] for r in rs):,.0f}",
                         f"{statistics.median(r['cpu_us'] for r in rs):,.0f}",
                         sum(r["errors"] for r in rs), f"{ratio:.3f}"])
        table("New tunnels: the SP database behind the gateway",
              ["database", "tunnels/s", "gateway CPU µs/tunnel", "errors", "CPU ratio to SQLite"],
              rows)
    finally:
        sqlite.close()
        pg.close()


class Probe:
    """A tenant machine that added the provider: `tenant check` says what the gateway decides."""

    def __init__(self, work, sp, addr):
        self.env = {**os.environ, "CLOUDGATE_HOME": str(work / "tenant")}
        sh(CG, "tenant", "provider", "add", addr, "--name", "sp", "--username", "bench0",
           "--password-file", sp.pw, "--thumbprint", sp.thumbprint, env=self.env)

    def check(self):
        return subprocess.run([CG, "tenant", "check", "sp"], env=self.env,
                              capture_output=True).returncode


def propagation(sp, probe, changes):
    """p50 and p99 of the time from a change's command returning to the first `tenant check`
    that sees it."""
    times = []
    for i in range(changes):
        verb, want = ("disable", 4) if i % 2 == 0 else ("enable", 0)
        sp.cg("sp", "tenant", verb, "bench0")
        t0 = time.monotonic()
        while probe.check() != want:
            if time.monotonic() - t0 > 30:
                raise RuntimeError(f"the change ({verb}) was not seen in 30 s")
        times.append(time.monotonic() - t0)
    times.sort()
    p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
    return statistics.median(times), p99


def thread_cpu(pid):
    """Each thread's time on a CPU, in seconds, by thread id: nanoseconds from schedstat,
    where /proc/PID/stat counts 10 ms ticks."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            out[task.name] = int((task / "schedstat").read_text().split()[0]) / 1e9
        except (OSError, ValueError, IndexError):
            pass
    return out


def cpu_between(before, after):
    """CPU time between two thread_cpu readings: threads in both, and threads started since
    (a thread gone since took its time with it; the gateway's are long-lived)."""
    return sum(t - before.get(tid, 0.0) for tid, t in after.items())


def change_cpu(sp, gw_pid, changes, spacing=0.1):
    """The gateway's CPU per change, nothing else talking to it: its CPU over `changes`
    changes made `spacing` seconds apart, less its CPU over as long without changes (the
    heartbeat). Changes go through psql in one session, so that only the gateway's own work
    is counted; each is a commit as `sp tenant disable|enable` makes it."""
    stmts, span = [], changes * spacing
    for i in range(changes):
        enabled = "TRUE" if i % 2 else "FALSE"
        stmts.append(f"""BEGIN;
UPDATE tenants SET enabled = {enabled} WHERE name = 'bench0';
UPDATE state_version SET version = version + 1 WHERE id = 1;
INSERT INTO state_changes (version, tenant) SELECT version, 'bench0' FROM state_version;
SELECT pg_notify('cloudgate_state', '');
COMMIT;
SELECT pg_sleep({spacing});""")
    results = []
    for _ in range(3):
        before = thread_cpu(gw_pid)
        time.sleep(span)
        idle = cpu_between(before, thread_cpu(gw_pid))
        before = thread_cpu(gw_pid)
        subprocess.run(["psql", sp.database, "-q", "-o", "/dev/null"],
                       input="\n".join(stmts), text=True, check=True)
        busy = cpu_between(before, thread_cpu(gw_pid))
        results.append(max(busy - idle, 0) / changes)
    return statistics.median(results)


def scale_case(work, args):
    sp = Sp(work / "scale", new_database(args.database))
    try:
        p, addr = sp.gateway()
        server = sp.enroll(addr)
        probe = Probe(work / "scale", sp, addr)
        rows, rss_at = [], {}
        for tenants in (1, args.tenants):
            if tenants > 1:
                sp.add_bulk_tenants(tenants - 1)
            rate(server, 1)
            r = statistics.median(rate(server, args.seconds)["rate"] for _ in range(args.repeat))
            rss = rss_at[tenants] = rss_kib(p.pid)
            cpu = change_cpu(sp, p.pid, args.cpu_changes)
            p50, p99 = propagation(sp, probe, args.changes)
            rows.append([f"{tenants:,}", f"{r:,.0f}", f"{rss / 1024:,.1f}",
                         f"{p50 * 1000:,.0f}", f"{p99 * 1000:,.0f}", f"{cpu * 1e6:,.0f}"])
        per_tenant = (rss_at[args.tenants] - rss_at[1]) / max(args.tenants - 1, 1)
        table(f"PostgreSQL, 1 and {args.tenants:,} tenants (each with a service and an enrolled "
              "machine)",
              ["tenants", "tunnels/s", "gateway RSS MiB", "change seen p50 ms",
               "change seen p99 ms", "gateway CPU µs/change"], rows)
        print(f"\nGateway memory per tenant (RSS of one gateway that enrolled and carried tunnels "
              f"before the reading at 1 tenant; the memory case measures fresh starts): "
              f"{per_tenant * 1024:,.0f} bytes")
        counted = json.loads(subprocess.run([SM, "--tenants", str(args.tenants)], check=True,
                                            capture_output=True, text=True).stdout)
        print(f"State memory per tenant (counted, malloc chunks): "
              f"{counted['bytes_per_tenant']:,.0f} bytes; one change applied to a copy: "
              f"{counted['change_us']['1']:.1f} µs at 1 tenant, "
              f"{counted['change_us']['many']:.1f} µs at {args.tenants:,}")
    finally:
        sp.close()


def memory_case(work, args):
    if args.tenants < 2:
        sys.exit("fleet.py: the memory case compares 1 tenant with --tenants; give --tenants 2 or more")
    medians = {}
    rows = []
    for tenants in (1, args.tenants):
        sp = Sp(work / f"memory{tenants}", new_database(args.database))
        try:
            if tenants > 1:
                sp.add_bulk_tenants(tenants - 1)
            readings = []
            for r in range(args.repeat):
                p, _ = sp.gateway(name=f"fresh{r}")
                time.sleep(args.settle)
                readings.append(rss_kib(p.pid))
                p.terminate()
                p.wait(10)
            medians[tenants] = statistics.median(readings)
            rows.append([f"{tenants:,}", " ".join(f"{k / 1024:.1f}" for k in readings),
                         f"{medians[tenants] / 1024:.1f}"])
        finally:
            sp.close()
    per_tenant = (medians[args.tenants] - medians[1]) * 1024 / max(args.tenants - 1, 1)
    table(f"Gateway memory from fresh starts ({args.repeat} starts each, RSS {args.settle} s after "
          "the start, nothing else done to the gateway)",
          ["tenants", "RSS of each start (MiB)", "median (MiB)"], rows)
    print(f"\nGateway memory per tenant, fresh starts: {per_tenant:,.0f} bytes")


def passwords_case(work, args):
    sp = Sp(work / "passwords", new_database(args.database))
    try:
        # Every check must reach the hash: no throttle in the way.
        p, addr = sp.gateway(name="passwords", conf_more="enroll_failures_per_window = 1000000\n"
                             "account_failures_per_window = 1000000\n")
        time.sleep(args.settle)
        first = rss_kib(p.pid)
        rows = []
        for r in range(args.rounds):
            out = sh("taskset", "-c", "1", LG, "password-checks", "--target", addr, "--server-cert",
                     sp.cert, "--tenant", "bench0", "--password-file", sp.pw, "--count",
                     args.checks, "--wrong", args.checks // 2, "--parallel", 8, "--sources",
                     8).stdout
            answers = json.loads(out.strip().splitlines()[-1])
            time.sleep(args.settle)
            after = rss_kib(p.pid)
            rows.append([r + 1, answers["enrolled"], answers["refused"], answers["busy"],
                         f"{after / 1024:.1f}", f"{after / max(first, 1):.2f}"])
            print(f"round {r + 1}: {answers['enrolled']} enrolled, {answers['refused']} wrong, "
                  f"{after / 1024:.1f} MiB ({after / max(first, 1):.2f}x)", flush=True)
        table(f"Gateway memory after password checks on PostgreSQL ({first / 1024:.1f} MiB before "
              f"the first round; RSS {args.settle} s after each round)",
              ["round", "enrolled", "wrong password", "busy, tried again", "RSS (MiB)",
               "÷ before the first"], rows)
    finally:
        sp.close()


def echo_once(addr, timeout=10):
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(b"ping")
        data = b""
        while len(data) < 4:
            chunk = s.recv(4 - len(data))
            if not chunk:
                raise RuntimeError("closed")
            data += chunk
    return data


def failover_case(work, args):
    sp = Sp(work / "failover", new_database(args.database))
    times = []
    try:
        for i in range(args.rounds):
            ports = [free_port(), free_port()]
            gws = []
            for name, port in zip(("gw-a", "gw-b"), ports):
                a = f"127.0.0.1:{port}"
                gws.append(sp.gateway(f"{name}-{i}", ["--listen", a, "--public-address", a,
                                                       "--id", name])[0])
            tenant = work / "failover" / f"tenant{i}"
            env = {**os.environ, "CLOUDGATE_HOME": str(tenant)}
            sh(CG, "tenant", "provider", "add", f"127.0.0.1:{ports[0]}", "--name", "sp",
               "--username", "bench0", "--password-file", sp.pw, "--thumbprint", sp.thumbprint,
               env=env)
            deadline = time.monotonic() + 15
            while True:
                sh(CG, "tenant", "check", "sp", env=env)
                shown = json.loads(sh(CG, "tenant", "provider", "show", "sp", "--json", env=env).stdout)
                if len(shown["gateways"]) == 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            t = subprocess.Popen([CG, "tenant", "tunnel", "sp", "echo", "--listen", "127.0.0.1:0"],
                                 env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            local = addr_in(t.stdout.readline())
            host, port = local.rsplit(":", 1)
            echo_once((host, int(port)))
            # gw-a is told first (least loaded, then by id) and is the address typed.
            gws[0].send_signal(signal.SIGKILL)
            gws[0].wait()
            t0 = time.monotonic()
            echo_once((host, int(port)))
            times.append(time.monotonic() - t0)
            t.terminate()
            t.wait()
            gws[1].terminate()
            gws[1].wait()
        table(f"Failover: kill -9 of the gateway a running tunnel uses, {args.rounds} rounds",
              ["median ms", "max ms"],
              [[f"{statistics.median(times) * 1000:,.1f}", f"{max(times) * 1000:,.1f}"]])
    finally:
        sp.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--database", required=True, help="postgres://… of a role that may create databases")
    ap.add_argument("--tenants", type=int, default=100_000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--changes", type=int, default=20)
    ap.add_argument("--cpu-changes", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--settle", type=int, default=8, help="seconds from a start to the reading (memory)")
    ap.add_argument("--checks", type=int, default=50, help="password checks per round (passwords)")
    ap.add_argument("--only", default="repository,scale,memory,failover",
                    help="cases, comma-separated: repository, scale, memory, failover, passwords")
    args = ap.parse_args()
    for tool in (CG, LG):
        if not tool.exists():
            sys.exit(f"{tool} is missing: cargo build --release -p cloudgate -p cloudgate-bench")
    with tempfile.TemporaryDirectory(prefix="cg-fleet-bench-") as tmp:
        work = Path(tmp)
        only = args.only.split(",")
        if "repository" in only:
            repository_case(work, args)
        if "scale" in only:
            scale_case(work, args)
        if "memory" in only:
            memory_case(work, args)
        if "failover" in only:
            failover_case(work, args)
        if "passwords" in only:
            passwords_case(work, args)


if __name__ == "__main__":
    main()
