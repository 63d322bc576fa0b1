#!/usr/bin/env python3
"""Side-by-side benchmark: redis-server and Cairn under the same redis-benchmark load.

    python bench/run.py                       # the full run, writes bench/results.md
    python bench/run.py --quick               # a short smoke run
    python bench/run.py --tests set,get --pipelines 1 --requests 50000

Both servers run on free loopback ports of this machine. For every test and
pipeline depth, redis-benchmark runs against each server in turn (the order
alternates), and the CSV output gives ops/s and p50/p99 latencies. Each
durability mode of Cairn is paired with the closest redis-server setting:

    none   Cairn --durability none    vs redis --save '' --appendonly no
    local  Cairn --durability local   vs redis --appendonly yes --appendfsync always

Not part of the test suite.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import io
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results.md")

# redis-benchmark test names (-t) and the names its CSV output uses.
CSV_NAMES = {
    "ping_inline": "PING_INLINE",
    "ping_mbulk": "PING_MBULK",
    "set": "SET",
    "get": "GET",
    "incr": "INCR",
    "mset": "MSET (10 keys)",
    "lpush": "LPUSH",
    "rpush": "RPUSH",
    "lpop": "LPOP",
    "rpop": "RPOP",
    "sadd": "SADD",
    "hset": "HSET",
    "spop": "SPOP",
    "zadd": "ZADD",
    "zpopmin": "ZPOPMIN",
    "lrange_100": "LRANGE_100 (first 100 elements)",
}

# The goal of the project's issue, per pipeline depth (Cairn ops/s over Redis').
TARGETS = {1: 0.9, 16: 0.8}


@dataclass
class Result:
    rps: float
    p50: float | None
    p99: float | None
    cpu_us: float | None = None  # server CPU time (user + system) per request


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process so far (Linux /proc)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server on port {port} exited with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"nothing answering on port {port}")


class Server:
    def __init__(self, name: str, argv: list[str], port: int, workdir: str) -> None:
        self.name = name
        self.port = port
        self.workdir = workdir
        self.log = open(os.path.join(workdir, f"{name}.log"), "wb")
        self.proc = subprocess.Popen(argv, cwd=workdir, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for_port(port, self.proc)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def start_redis(mode: str, workdir: str) -> Server:
    port = free_port()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir]
    if mode == "none":
        argv += ["--appendonly", "no"]
    else:
        argv += ["--appendonly", "yes", "--appendfsync", "always"]
    return Server("redis", argv, port, workdir)


def start_cairn(mode: str, workdir: str) -> Server:
    port = free_port()
    data = os.path.join(workdir, "cairn-data")
    os.makedirs(data, exist_ok=True)
    argv = [sys.executable, "-m", "cairn", "--port", str(port), "--bind", "127.0.0.1",
            "--dir", data, "--durability", mode]
    return Server("cairn", argv, port, workdir)


def run_benchmark(server: Server, test: str, pipeline: int, requests: int, clients: int) -> Result:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "-q", "--csv",
            "-c", str(clients), "-n", str(requests), "-t", test, "-P", str(pipeline)]
    cpu_before = cpu_seconds(server.proc.pid)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    cpu_after = cpu_seconds(server.proc.pid)
    cpu_us = None
    if cpu_before is not None and cpu_after is not None:
        cpu_us = (cpu_after - cpu_before) * 1e6 / requests
    if proc.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {proc.stderr.strip() or proc.stdout.strip()}")
    wanted = CSV_NAMES.get(test, test.upper())
    for row in csv.reader(io.StringIO(proc.stdout)):
        if not row or row[0] == "test":
            continue
        if row[0] == wanted or test not in CSV_NAMES:
            rps = float(row[1])
            p50 = float(row[4]) if len(row) > 6 else None
            p99 = float(row[6]) if len(row) > 6 else None
            return Result(rps, p50, p99, cpu_us)
    raise RuntimeError(f"no {wanted!r} line in redis-benchmark output:\n{proc.stdout}\n{proc.stderr}")


def _version(argv: list[str]) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except OSError:
        return "?"


def machine() -> dict[str, str]:
    model = "?"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    versions = {}
    for mod in ("hiredis", "uvloop"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = "not installed"
    try:
        import cairn

        cairn_version = getattr(cairn, "__version__", "?")
    except ImportError:
        cairn_version = "?"
    redis_version = _version(["redis-server", "--version"]).split(" v=")[-1].split()[0]
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": str(os.cpu_count()),
        "cpu": model,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "redis-server": redis_version,
        "redis-benchmark": _version(["redis-benchmark", "--version"]).replace("redis-benchmark ", ""),
        "cairn": cairn_version,
        "hiredis": versions["hiredis"],
        "uvloop": versions["uvloop"],
    }


def _fmt_ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _fmt_cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", "-n", type=int, default=200_000)
    parser.add_argument("--clients", "-c", type=int, default=50)
    parser.add_argument("--tests", "-t", default="set,get,incr,mset")
    parser.add_argument("--pipelines", "-P", default="1,16")
    parser.add_argument("--modes", default="none", help="Cairn durability modes: none,local")
    parser.add_argument("--quick", action="store_true", help="20k requests: a smoke run")
    parser.add_argument("--output", default=RESULTS, help="where to write the markdown table ('-' for none)")
    args = parser.parse_args(argv)

    for tool in ("redis-server", "redis-benchmark"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install redis-server redis-tools)", file=sys.stderr)
            return 2
    requests = 20_000 if args.quick else args.requests
    tests = [t.strip() for t in args.tests.split(",") if t.strip()]
    pipelines = [int(p) for p in args.pipelines.split(",")]
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]

    rows: list[tuple[str, str, int, Result | str, Result | str]] = []
    flip = False
    for mode in modes:
        workdir = tempfile.mkdtemp(prefix=f"cairn-bench-{mode}-")
        redis = cairn = None
        try:
            redis = start_redis(mode, workdir)
            try:
                cairn = start_cairn(mode, workdir)
            except (RuntimeError, TimeoutError) as exc:
                print(f"cairn --durability {mode} did not start: {exc}", file=sys.stderr)
            for test in tests:
                for pipeline in pipelines:
                    results: dict[str, Result | str] = {}
                    order = [("cairn", cairn), ("redis", redis)] if flip else [("redis", redis), ("cairn", cairn)]
                    flip = not flip
                    for name, server in order:
                        if server is None:
                            results[name] = "did not start"
                            continue
                        try:
                            results[name] = run_benchmark(server, test, pipeline, requests, args.clients)
                        except (RuntimeError, subprocess.TimeoutExpired) as exc:
                            results[name] = f"failed: {str(exc).splitlines()[0][:80]}"
                    r, c = results["redis"], results["cairn"]
                    rows.append((mode, test, pipeline, r, c))
                    print(_line(mode, test, pipeline, r, c), flush=True)
        finally:
            for server in (cairn, redis):
                if server is not None:
                    server.stop()
            shutil.rmtree(workdir, ignore_errors=True)

    info = machine()
    text = render(rows, info, requests, args.clients)
    if args.output != "-":
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}")
    return 0


def _line(mode: str, test: str, pipeline: int, r: Result | str, c: Result | str) -> str:
    if isinstance(r, Result) and isinstance(c, Result):
        return (f"{mode:5} {test:11} -P {pipeline:<3} redis {r.rps:>11,.0f}/s  cairn {c.rps:>11,.0f}/s"
                f"  ratio {c.rps / r.rps:.2f}")
    return f"{mode:5} {test:11} -P {pipeline:<3} redis {r}  cairn {c}"


def render(rows: list[tuple[str, str, int, Result | str, Result | str]], info: dict[str, str],
           requests: int, clients: int) -> str:
    out = ["# Cairn vs redis-server: redis-benchmark side by side", ""]
    out.append("Written by `python bench/run.py` (see bench/README.md); do not edit by hand.")
    out.append("")
    out.append(f"- date: {info['date']}")
    out.append(f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}; the benchmark client "
               "shares the machine with the server under test")
    out.append(f"- versions: redis-server {info['redis-server']}, redis-benchmark {info['redis-benchmark']}, "
               f"cairn {info['cairn']}, Python {info['python']}, hiredis {info['hiredis']}, uvloop {info['uvloop']}")
    out.append(f"- load: `redis-benchmark -q --csv -c {clients} -n {requests} -t <test> -P <pipeline>`, "
               "one test at a time, alternating which server goes first")
    out.append("- latencies are redis-benchmark's p50 / p99 in milliseconds; CPU µs/op is the server "
               "process' user + system CPU time during the run divided by the requests (an MSET is one "
               "request): it depends far less than ops/s on what else the machine is doing")
    out.append("")
    for mode in dict.fromkeys(r[0] for r in rows):
        if mode == "none":
            out.append("## durability none (redis: `--save '' --appendonly no`)")
        else:
            out.append(f"## durability {mode} (redis: `--appendonly yes --appendfsync always`)")
        out.append("")
        out.append("| test | pipeline | redis ops/s | cairn ops/s | ratio | target | redis p50 | cairn p50 "
                   "| redis p99 | cairn p99 | redis CPU µs/op | cairn CPU µs/op |")
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for m, test, pipeline, r, c in rows:
            if m != mode:
                continue
            target = TARGETS.get(pipeline) if mode == "none" else None
            target_text = f"≥{target:.1f}" if target else "-"
            if isinstance(r, Result) and isinstance(c, Result):
                ratio = c.rps / r.rps if r.rps else 0.0
                met = "" if target is None else (" ✓" if ratio >= target else " ✗")
                out.append(f"| {test} | {pipeline} | {r.rps:,.0f} | {c.rps:,.0f} | {ratio:.2f}{met} | {target_text} "
                           f"| {_fmt_ms(r.p50)} | {_fmt_ms(c.p50)} | {_fmt_ms(r.p99)} | {_fmt_ms(c.p99)} "
                           f"| {_fmt_cpu(r.cpu_us)} | {_fmt_cpu(c.cpu_us)} |")
            else:
                rt = f"{r.rps:,.0f}" if isinstance(r, Result) else r
                ct = f"{c.rps:,.0f}" if isinstance(c, Result) else c
                out.append(f"| {test} | {pipeline} | {rt} | {ct} | - | {target_text} | | | | | | |")
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
