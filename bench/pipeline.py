"""Section 10 of ``make bench`` (issue 23): the work after polling, measured against the polling itself.

One node, 5,000 relations (30,000 GETs) at 100 ms, concurrency 64, in a fresh process (bench/child.py)
doing a whole run: polling, archive to a local directory, state in a local file, OTLP export to the
receiver in this process. The deployment's second run is the one measured (its state and series state
are read and written, as in every run but the first). Then 10,000 relations (60,000 GETs) under a 900 s
deadline, as in a 15-minute Lambda. The simulator runs in processes of its own (bench/sim.py).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exalate_collector.devtools.otlp_receiver import OtlpReceiver

from .polling import CONCURRENCY, Simulators, ideal_s
from .sim import SECRET, relation_names

Row = Callable[..., None]
Child = Callable[[dict[str, Any], dict[str, str]], dict[str, Any]]

GOAL_WHOLE_OVER_POLL = 1.1
GOAL_PEAK_MB = 128.0
LAMBDA_DEADLINE_S = 900


def _spec(base_url: str, relations: list[str], work: Path, deadline_s: float) -> dict[str, Any]:
    node = {
        "name": "big",
        "base_url": base_url,
        "relations": relations,
        "auth": {"secret": SECRET},
        "concurrency": CONCURRENCY,
        "timeout_s": 60,
    }
    return {
        "config": {"nodes": [node], "limits": {"max_in_flight": CONCURRENCY}},
        "deadline": deadline_s,
        "archive": str(work / "archive"),
        "state": str(work / "state"),
    }


def whole_runs(work: Path, sim_processes: int, quick: bool, row: Row, child: Child) -> None:
    sizes = [1_000] if quick else [5_000, 10_000]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ARCHIVE_", "AWS_", "OTEL_"))}
    env["EXALATE_LOG_LEVEL"] = "ERROR"
    with OtlpReceiver() as receiver, Simulators(sim_processes, max(sizes)) as sims:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
        for n in sizes:
            where = work / f"pipeline-{n}"
            spec = _spec(sims.base_url, relation_names(n), where, LAMBDA_DEADLINE_S)
            first = n == min(sizes)
            if first:
                child(spec, env)  # the deployment's first run: the measured one reads and writes its state
            receiver.clear()
            got = child(spec, env)
            label = f"{n:,} relations ({6 * n:,} GETs)"
            ratio = got["total_s"] / got["poll_s"]
            after = got["total_s"] - got["poll_s"]
            row(
                "10 pipeline",
                f"{label}: whole run / polling wall",
                f"{got['total_s']:.1f} s / {got['poll_s']:.1f} s (after polling {after:.1f} s)",
                f"ideal polling {ideal_s(6 * n, CONCURRENCY):.1f} s",
                ratio,
                goal=f"<= {GOAL_WHOLE_OVER_POLL}x" if first else "",
                met=ratio <= GOAL_WHOLE_OVER_POLL if first else None,
            )
            row(
                "10 pipeline",
                f"{label}: peak RSS",
                f"{got['peak_mb']:.0f} MB",
                f"before the run {got['before_run_mb']:.0f} MB",
                got["peak_mb"] / got["before_run_mb"],
                goal=f"<= {GOAL_PEAK_MB:.0f} MB" if first else "",
                met=got["peak_mb"] <= GOAL_PEAK_MB if first else None,
            )
            row(
                "10 pipeline",
                f"{label}: CPU of the run",
                f"{got['cpu_s']:.1f} s ({got['cpu_s'] / (6 * n) * 1000:.2f} s per 1,000 GETs)",
            )
            if n == max(sizes) and not quick:
                fits = got["failed"] == 0 and got["export_ok"] and got["total_s"] < LAMBDA_DEADLINE_S
                row(
                    "10 pipeline",
                    f"{label}: fits a {LAMBDA_DEADLINE_S} s deadline",
                    f"{got['total_s']:.0f} s, {got['failed']} failed, export {'ok' if got['export_ok'] else 'FAILED'}",
                    f"deadline {LAMBDA_DEADLINE_S} s",
                    got["total_s"] / LAMBDA_DEADLINE_S,
                    goal="all polled and delivered, with room",
                    met=fits and got["total_s"] < LAMBDA_DEADLINE_S / 2,
                )
