"""Section 8 of ``make bench`` (issue 18): the collector's polling side by side with a plain aiohttp loop
and requests + threads, over the same GETs of the same simulator; and 10,000 nodes under max_in_flight.

Each poller runs in a fresh process (bench/pollers.py), so its CPU, peak RSS and threads are its own;
the simulator runs in processes of its own (bench/sim.py, several on one port with SO_REUSEPORT), whose
CPU is read from /proc beside each run, so that a simulator at the end of its GIL shows in the table.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from exalate_collector.endpoints import ENDPOINTS

from .sim import SECRET, relation_names

ROOT = Path(__file__).resolve().parents[1]
LATENCY_S = 0.1
CONCURRENCY = 64
KINDS = ("collector", "aiohttp", "requests")
LABELS = {"collector": "collector", "aiohttp": "plain aiohttp", "requests": "requests+threads"}
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process (all its threads), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def proc_threads(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


class Simulators:
    """``processes`` simulator processes serving one port (SO_REUSEPORT)."""

    def __init__(self, processes: int, relations: int, latency_s: float = LATENCY_S) -> None:
        self.procs: list[subprocess.Popen[str]] = []
        #: The simulators' stderr (a client that closed a connection is a traceback there).
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - closed by close()
        port = 0
        try:
            for _ in range(processes):
                proc = subprocess.Popen(
                    [sys.executable, "-m", "bench.sim", str(port), str(latency_s), str(relations)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    stderr=self.log,
                    text=True,
                    cwd=ROOT,
                    env={**os.environ, "EXALATE_LOG_LEVEL": "ERROR"},
                )
                self.procs.append(proc)
                assert proc.stdout is not None
                line = proc.stdout.readline()
                if not line.startswith("ready "):
                    raise RuntimeError(f"the simulator did not start: {line!r}")
                port = int(line.split()[1])
        except BaseException:
            self.close()
            raise
        self.base_url = f"http://127.0.0.1:{port}/jira"

    def cpu(self) -> list[float]:
        return [proc_cpu_s(p.pid) for p in self.procs]

    def close(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.log.close()

    def errors(self) -> int:
        """Tracebacks the simulators printed so far."""
        self.log.seek(0)
        return sum(line.startswith("Traceback") for line in self.log)

    def __enter__(self) -> Simulators:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Measured:
    kind: str
    gets: int
    wall_s: float
    cpu_s: float
    sys_s: float  # of cpu_s, in the kernel
    peak_mb: float
    peak_threads: int
    failed: int
    failures: dict[str, int]  # by error.type (the collector only)
    sim_busiest: float  # the busiest simulator process's CPU over the run's wall: 1.0 is a whole core

    @property
    def cpu_per_1000(self) -> float:
        return self.cpu_s / self.gets * 1000

    def failed_text(self) -> str:
        if not self.failed:
            return ""
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(self.failures.items(), key=lambda kv: -kv[1]))
        return f" ({self.failed} failed{': ' + kinds if kinds else ''})"


def measure(spec: dict[str, Any], sims: Simulators, gets: int, timeout_s: float = 600) -> Measured:
    """One poller in a fresh process; its threads sampled every 10 ms from /proc (nothing added to it)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(spec, file)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "ARCHIVE_", "AWS_", "HTTP", "NO_PROXY"))}
    env["EXALATE_LOG_LEVEL"] = "ERROR"
    before = sims.cpu()
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.pollers", "@" + file.name],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=env,
    )
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            try:
                peak[0] = max(peak[0], proc_threads(proc.pid))
            except (OSError, ValueError):
                return

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"{spec['kind']} did not finish within {timeout_s:g} s") from None
    finally:
        done.set()
        sampler.join()
        os.unlink(file.name)
    wall = time.perf_counter() - started
    busiest = max(after - b for after, b in zip(sims.cpu(), before, strict=True)) / wall
    if proc.returncode != 0:
        raise RuntimeError(err[-3000:])
    got = json.loads(out.strip().splitlines()[-1])
    return Measured(
        spec["kind"],
        gets,
        got["wall_s"],
        got["cpu_s"],
        got["sys_s"],
        got["peak_mb"],
        peak[0],
        got["failed"],
        got.get("failures", {}),
        busiest,
    )


def bearer() -> str:
    import jwt

    now = int(time.time())
    return jwt.encode({"iss": "bench", "iat": now, "exp": now + 3600}, SECRET, algorithm="HS256")


def collector_config(
    base_url: str, relations: list[str], nodes: int, concurrency: int, max_in_flight: int
) -> dict[str, Any]:
    return {
        "nodes": [
            {
                "name": f"n{i:05d}",
                "base_url": base_url,
                "relations": relations,
                "auth": {"secret": SECRET},
                "concurrency": concurrency,
                "timeout_s": 60,
            }
            for i in range(nodes)
        ],
        "limits": {"max_in_flight": max_in_flight},
    }


def side_by_side(sims: Simulators, gets: int) -> dict[str, Measured]:
    """The three pollers over the same ``gets`` GETs (one node, gets / 6 relations), at concurrency 64."""
    relations = relation_names(gets // len(ENDPOINTS))
    token = bearer()
    specs = {
        "collector": {
            "kind": "collector",
            "config": collector_config(sims.base_url, relations, 1, CONCURRENCY, CONCURRENCY),
            "deadline": 600,
        },
        "aiohttp": {
            "kind": "aiohttp",
            "base_url": sims.base_url,
            "relations": relations,
            "token": token,
            "concurrency": CONCURRENCY,
        },
        "requests": {
            "kind": "requests",
            "base_url": sims.base_url,
            "relations": relations,
            "token": token,
            "concurrency": CONCURRENCY,
        },
    }
    return {kind: measure(specs[kind], sims, gets) for kind in KINDS}


def many_nodes(sims: Simulators, nodes: int, max_in_flight: int) -> Measured:
    config = collector_config(sims.base_url, relation_names(1), nodes, 8, max_in_flight)
    return measure({"kind": "collector", "config": config, "deadline": 600}, sims, nodes * len(ENDPOINTS))


def ideal_s(gets: int, concurrency: int) -> float:
    return math.ceil(gets / concurrency) * LATENCY_S
