"""Lua scripting throughput: EVALSHA on Cairn and on redis-server, side by side.

    python bench/scripts.py                        # -P 1, 100k requests, 50 clients, best of 3
    python bench/scripts.py --pipelines 1,16 --rounds 5
    python bench/scripts.py --output bench/results-scripts.md
    python bench/scripts.py --cairn-path /tmp/old-tree   # run another Cairn tree (before/after)

Two scripts, each loaded with SCRIPT LOAD and run with
`redis-benchmark -c <clients> -n <requests> -P <pipeline> evalsha <sha> ...`:

- `return 1`: the fixed cost of running a script;
- `5 SET + 5 GET`: ten `redis.call`s on the five keys given in KEYS.

Every run alternates which server goes first; the table shows the best ops/s of
the rounds (the machine is shared: the best run is the least disturbed one)
and the server's CPU µs per request of that run. It also measures, without
sockets, Cairn's µs per EVALSHA and per `redis.call` (EVALSHA through
`cairn.commands.dispatch.execute` in a loop, process CPU time, best of 5).

Uses the helpers of bench/run.py (servers on free loopback ports); needs
redis-server and redis-benchmark.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from run import (  # bench/ is not a package: run.py is found through sys.path
    Result,
    Server,
    cpu_seconds,
    machine,
    start_cairn,
    start_redis,
)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "bench", "results-scripts.md")

RETURN_1 = "return 1"
SET_GET = (
    "redis.call('SET', KEYS[1], ARGV[1]) redis.call('SET', KEYS[2], ARGV[1]) "
    "redis.call('SET', KEYS[3], ARGV[1]) redis.call('SET', KEYS[4], ARGV[1]) "
    "redis.call('SET', KEYS[5], ARGV[1]) redis.call('GET', KEYS[1]) redis.call('GET', KEYS[2]) "
    "redis.call('GET', KEYS[3]) redis.call('GET', KEYS[4]) return redis.call('GET', KEYS[5])"
)
KEYS = ["bench:k1", "bench:k2", "bench:k3", "bench:k4", "bench:k5"]
# (name, script body, numkeys and arguments after the sha, redis.calls per run)
TESTS = [
    ("return 1", RETURN_1, ["0"], 0),
    ("5 SET + 5 GET", SET_GET, ["5", *KEYS, "xxx"], 10),
]


def sha1(body: str) -> str:
    return hashlib.sha1(body.encode()).hexdigest()


def load_scripts(server: Server) -> None:
    for _, body, _, _ in TESTS:
        out = subprocess.run(["redis-cli", "-p", str(server.port), "SCRIPT", "LOAD", body],
                             capture_output=True, text=True, timeout=30).stdout.strip()
        if out != sha1(body):
            raise RuntimeError(f"{server.name}: SCRIPT LOAD answered {out!r}")


def benchmark(server: Server, args: list[str], pipeline: int, requests: int, clients: int) -> Result:
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(server.port), "--csv",
            "-c", str(clients), "-n", str(requests), "-P", str(pipeline), *args]
    before = cpu_seconds(server.proc.pid)
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)
    after = cpu_seconds(server.proc.pid)
    if proc.returncode != 0:
        raise RuntimeError(f"redis-benchmark failed: {proc.stderr.strip() or proc.stdout.strip()}")
    cpu_us = None if before is None or after is None else (after - before) * 1e6 / requests
    for line in proc.stdout.splitlines():
        row = [field.strip('"') for field in line.split('","')]
        if len(row) >= 7 and row[0] != "test":
            return Result(float(row[1]), float(row[4]), float(row[6]), cpu_us)
    raise RuntimeError(f"no result in redis-benchmark output:\n{proc.stdout}\n{proc.stderr}")


def inproc(rounds: int = 5, n: int = 20000) -> dict[str, float]:
    """µs of process CPU per EVALSHA, in this process (no sockets)."""
    import cairn.commands  # noqa: F401
    from cairn.cli.server import build_server
    from cairn.commands.context import Client
    from cairn.commands.dispatch import execute
    from cairn.config import Config

    config = Config()
    config.set_text("durability", "none")
    server = build_server(config)
    client = Client(server, addr="bench")
    client.authenticated = True
    out: dict[str, float] = {}
    for name, body, extra, _ in TESTS:
        execute(server, client, [b"SCRIPT", b"LOAD", body.encode()])
        argv = [b"EVALSHA", sha1(body).encode(), *(a.encode() for a in extra)]
        reply, _lsn = execute(server, client, argv)
        if type(reply).__name__ == "ErrorReply":
            raise RuntimeError(f"{name}: {reply}")
        best = float("inf")
        for _ in range(rounds):
            start = time.process_time()
            for _ in range(n):
                execute(server, client, argv)
            best = min(best, (time.process_time() - start) / n * 1e6)
        out[name] = best
    server.log.close()
    return out


def inproc_subprocess(cairn_path: str | None) -> dict[str, float]:
    env = dict(os.environ)
    if cairn_path:
        env["PYTHONPATH"] = cairn_path + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run([sys.executable, os.path.abspath(__file__), "--inproc-only"],
                          capture_output=True, text=True, timeout=900, env=env,
                          cwd=cairn_path or ROOT)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.strip()[-500:])
    result: dict[str, float] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def loadavg() -> str:
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "?"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", "-n", type=int, default=100_000)
    parser.add_argument("--clients", "-c", type=int, default=50)
    parser.add_argument("--pipelines", "-P", default="1")
    parser.add_argument("--rounds", type=int, default=3, help="runs per server and test; the best is shown")
    parser.add_argument("--cairn-path", default=None, help="a Cairn source tree to run instead of this one")
    parser.add_argument("--output", default="-", help=f"write the markdown here too (e.g. {RESULTS})")
    parser.add_argument("--inproc-only", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.inproc_only:
        print(json.dumps(inproc()))
        return 0
    for tool in ("redis-server", "redis-benchmark", "redis-cli"):
        if shutil.which(tool) is None:
            print(f"{tool} is not installed (apt-get install redis-server redis-tools)", file=sys.stderr)
            return 2
    if args.cairn_path:
        os.environ["PYTHONPATH"] = args.cairn_path + os.pathsep + os.environ.get("PYTHONPATH", "")
    pipelines = [int(p) for p in args.pipelines.split(",")]
    load_before = loadavg()
    inproc_us = inproc_subprocess(args.cairn_path)

    rows: list[tuple[str, int, Result, Result]] = []
    workdir = tempfile.mkdtemp(prefix="cairn-bench-scripts-")
    redis = cairn = None
    try:
        redis = start_redis("none", workdir)
        if args.cairn_path:
            old = os.getcwd()
            os.chdir(args.cairn_path)  # python -m cairn from that tree
            try:
                cairn = start_cairn("none", workdir)
            finally:
                os.chdir(old)
        else:
            cairn = start_cairn("none", workdir)
        for server in (redis, cairn):
            load_scripts(server)
        flip = False
        for name, body, extra, _ in TESTS:
            bench_args = ["evalsha", sha1(body), *extra]
            for pipeline in pipelines:
                best: dict[str, Result] = {}
                for _ in range(args.rounds):
                    order = [cairn, redis] if flip else [redis, cairn]
                    flip = not flip
                    for server in order:
                        r = benchmark(server, bench_args, pipeline, args.requests, args.clients)
                        if server.name not in best or r.rps > best[server.name].rps:
                            best[server.name] = r
                rows.append((name, pipeline, best["redis"], best["cairn"]))
                r, c = best["redis"], best["cairn"]
                print(f"{name:14} -P {pipeline:<3} redis {r.rps:>10,.0f}/s  cairn {c.rps:>10,.0f}/s"
                      f"  ratio {c.rps / r.rps:.2f}", flush=True)
    finally:
        for server in (cairn, redis):
            if server is not None:
                server.stop()
        shutil.rmtree(workdir, ignore_errors=True)

    text = render(rows, inproc_us, machine(), args, load_before, loadavg())
    print()
    print(text)
    if args.output != "-":
        with open(args.output, "w") as f:
            f.write(text)
        print(f"wrote {args.output}")
    return 0


def _cpu(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def render(rows: list[tuple[str, int, Result, Result]], inproc_us: dict[str, float], info: dict[str, str],
           args: argparse.Namespace, load_before: str, load_after: str) -> str:
    out = ["# Lua scripts: Cairn vs redis-server (EVALSHA, redis-benchmark side by side)", ""]
    out.append("Written by `python bench/scripts.py` (see its docstring).")
    out.append("")
    out.append(f"- date: {info['date']}")
    out.append(f"- machine: {info['nproc']} CPUs ({info['cpu']}), {info['os']}; the benchmark client "
               "shares the machine with the servers")
    out.append(f"- load average (1 / 5 / 15 min) before: {load_before}, after: {load_after}")
    out.append(f"- versions: redis-server {info['redis-server']}, cairn {info['cairn']}, Python {info['python']}")
    out.append(f"- load: `redis-benchmark -c {args.clients} -n {args.requests} -P <pipeline> evalsha <sha> ...`, "
               f"best ops/s of {args.rounds} rounds per server, alternating which server goes first; "
               "Cairn `--durability none`, redis `--save '' --appendonly no`")
    out.append("")
    out.append("| script | pipeline | redis ops/s | cairn ops/s | ratio | redis p50 ms | cairn p50 ms "
               "| redis CPU µs/op | cairn CPU µs/op |")
    out.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name, pipeline, r, c in rows:
        out.append(f"| {name} | {pipeline} | {r.rps:,.0f} | {c.rps:,.0f} | {c.rps / r.rps:.2f} "
                   f"| {r.p50:.3f} | {c.p50:.3f} | {_cpu(r.cpu_us)} | {_cpu(c.cpu_us)} |")
    out.append("")
    out.append("In process (no sockets; EVALSHA through `dispatch.execute`, process CPU, best of 5):")
    out.append("")
    out.append("| script | µs per EVALSHA | µs per redis.call |")
    out.append("|---|---:|---:|")
    base = inproc_us.get("return 1", 0.0)
    for name, _, _, calls in TESTS:
        us = inproc_us[name]
        per_call = f"{(us - base) / calls:.2f}" if calls else "-"
        out.append(f"| {name} | {us:.2f} | {per_call} |")
    out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
