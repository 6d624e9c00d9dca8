"""One poller in a fresh process, driven by bench/__main__.py (bench.polling): the collector's polling or
a reference loop, over the same GETs of the same simulator, so its CPU, memory and threads are its own.

    python -m bench.pollers @<file holding the JSON spec>

kind ``collector``: ``runner.collect`` (configuration, authenticators, the plan, ``poll.poll_nodes``:
every answer read, interpreted and kept as an Exchange), no archive and no export. ``aiohttp``: a plain
loop, one ClientSession, a semaphore of ``concurrency``, every body read. ``requests``: a
ThreadPoolExecutor of ``concurrency`` workers, a requests.Session per thread, every body read. The two
references send the same bearer JWT on every GET (as the collector does without ``qsh``).

Prints one JSON line: polling wall and CPU seconds (user + system, every thread), peak RSS (VmHWM) and
the GETs that failed. Threads are sampled by the parent from /proc, so no sampler thread counts here.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from exalate_collector.endpoints import ENDPOINTS, relation_path


def cpu_s() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def peak_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


#: The collector's failed GETs by error.type.
FAILURES: dict[str, int] = {}


def urls(spec: dict[str, Any]) -> list[str]:
    base = spec["base_url"]
    return [base + relation_path(r, e) for r in spec["relations"] for e in ENDPOINTS]


def collector(spec: dict[str, Any]) -> int:
    from exalate_collector.config import parse_config
    from exalate_collector.runner import collect

    config = parse_config(spec["config"])
    result = collect(config, spec["deadline"])
    for exchange in result.exchanges:
        if exchange.failure is not None:
            kind = exchange.failure.error_type
            FAILURES[kind] = FAILURES.get(kind, 0) + 1
    return result.failures


def plain_aiohttp(spec: dict[str, Any]) -> int:
    import asyncio

    import aiohttp

    headers = {"Authorization": f"Bearer {spec['token']}", "Accept": "application/json"}
    targets = urls(spec)

    async def main() -> int:
        failed = 0
        slots = asyncio.Semaphore(spec["concurrency"])
        connector = aiohttp.TCPConnector(limit=spec["concurrency"])
        async with aiohttp.ClientSession(connector=connector) as session:

            async def one(url: str) -> None:
                nonlocal failed
                try:
                    async with session.get(url, headers=headers) as response:
                        await response.read()
                        failed += response.status != 200
                finally:
                    slots.release()

            async with asyncio.TaskGroup() as group:  # at most `concurrency` tasks exist at once
                for url in targets:
                    await slots.acquire()
                    group.create_task(one(url))
        return failed

    return asyncio.run(main())


def requests_threads(spec: dict[str, Any]) -> int:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    headers = {"Authorization": f"Bearer {spec['token']}", "Accept": "application/json"}
    local = threading.local()

    def one(url: str) -> bool:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.get(url, headers=headers, timeout=30)
        return response.status_code != 200 or response.content is None

    with ThreadPoolExecutor(max_workers=spec["concurrency"]) as pool:
        return sum(pool.map(one, urls(spec)))


KINDS = {"collector": collector, "aiohttp": plain_aiohttp, "requests": requests_threads}


def main() -> None:
    spec = json.loads(Path(sys.argv[1].removeprefix("@")).read_text())
    poller = KINDS[spec["kind"]]
    if spec["kind"] == "collector":  # imported before the clock starts, as the references' are
        import exalate_collector.runner  # noqa: F401
    else:
        import aiohttp  # noqa: F401
        import requests  # noqa: F401
    (user, system), wall = cpu_s(), time.perf_counter()
    failed = poller(spec)
    wall = time.perf_counter() - wall
    user, system = (after - before for after, before in zip(cpu_s(), (user, system), strict=True))
    print(
        json.dumps(
            {
                "wall_s": wall,
                "cpu_s": user + system,
                "sys_s": system,
                "peak_mb": peak_rss_mb(),
                "failed": failed,
                "failures": FAILURES,
            }
        )
    )


if __name__ == "__main__":
    main()
