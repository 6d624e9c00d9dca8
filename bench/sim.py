"""The simulator in processes of its own, driven by bench/__main__.py (bench.polling).

    python -m bench.sim PORT LATENCY_S RELATIONS

One ``NodeSimulator`` on 127.0.0.1:PORT (0: a free one) with SO_REUSEPORT, whose relations ``R0000`` ...
answer ``[]`` after LATENCY_S. Several of these processes on one port share the connections (the kernel
spreads them), so a fan-out of thousands of GETs is not bounded by one simulator's GIL. Prints
``ready PORT`` and serves until its standard input closes.
"""

from __future__ import annotations

import sys

from exalate_collector.endpoints import ENDPOINTS
from exalate_collector.simulator import Behaviour, NodeSimulator

SECRET = "bench-secret-of-at-least-32-bytes-long"


def relation_names(count: int) -> list[str]:
    return [f"R{i:04d}" for i in range(count)]


def main() -> None:
    port, latency, count = int(sys.argv[1]), float(sys.argv[2]), int(sys.argv[3])
    names = relation_names(count)
    empty = Behaviour(body=b"[]")
    relations = {name: dict.fromkeys(ENDPOINTS, empty) for name in names}
    sim = NodeSimulator(relations, secret=SECRET, latency_s=latency)
    sim.start(port, reuse_port=True)
    try:
        print(f"ready {sim.base_url.rsplit(':', 1)[1].split('/', 1)[0]}", flush=True)
        sys.stdin.read()  # until the parent closes it (or dies)
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
