"""One measured run in a fresh process (for peak RSS), driven by bench/__main__.py.

    python -m bench.child '<json spec>'    (or @<file holding it>)

The spec holds the configuration, the deadline and the archive mode; the environment (set by the
parent) points at the parent's simulator, OTLP receiver and moto server. Prints one JSON line.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
from pathlib import Path


def peak_rss_mb() -> float:
    """VmHWM: this process's peak resident set. (ru_maxrss would carry the parent's peak across exec.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    arg = sys.argv[1]
    spec = json.loads(Path(arg[1:]).read_text() if arg.startswith("@") else arg)
    from exalate_collector.archive.sinks import LocalDirectorySink, sink_for
    from exalate_collector.config import parse_config
    from exalate_collector.runner import run
    from exalate_collector.state.store import LocalStateStore
    from exalate_collector.telemetry.otel import OtelPipeline

    config = parse_config(spec["config"])
    if spec.get("poll_only"):
        from exalate_collector.runner import collect

        peak = [threading.active_count()]
        stop = threading.Event()

        def sample() -> None:  # the collector's threads, as the kernel counts them, every 10 ms
            while not stop.wait(0.01):
                line = next(x for x in Path("/proc/self/status").read_text().splitlines() if x.startswith("Threads:"))
                peak[0] = max(peak[0], int(line.split()[1]))

        sampler = threading.Thread(target=sample, daemon=True)
        if spec.get("sample_threads"):
            sampler.start()
        result = collect(config, spec["deadline"])
        stop.set()
        print(
            json.dumps(
                {
                    "poll_s": result.duration_s,
                    "failed": result.failures,
                    "peak_threads": peak[0],
                    "peak_mb": peak_rss_mb(),
                }
            )
        )
        return
    pipeline = OtelPipeline.from_environment()
    if spec["archive"] == "queue":
        from exalate_collector.settings import Settings

        sink = sink_for(Settings.from_environment(os.environ), in_lambda=True)
    else:
        sink = LocalDirectorySink(Path(spec["archive"]))
    before_run = peak_rss_mb()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    start = time.perf_counter()
    state = LocalStateStore(Path(spec["state"])) if spec.get("state") else None
    result = run(config, spec["deadline"], pipeline, sink, state)
    total = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime + after.ru_stime - usage.ru_utime - usage.ru_stime
    peak = peak_rss_mb()
    largest = max((int(ex.content_length or 0) for ex in result.exchanges), default=0)
    print(
        json.dumps(
            {
                "total_s": total,
                "cpu_s": cpu,  # the run's user + system CPU, every thread
                "poll_s": result.duration_s,
                "peak_mb": peak,
                "before_run_mb": before_run,
                "largest_response_mb": largest / 1e6,
                "polls": len(result.exchanges),
                "failed": result.failures,
                "export_ok": bool(result.export and result.export.ok),
                "archive": dict(result.archive.delivered) if result.archive else {},
                "archive_failures": [f.error_type for _, f in result.archive.failures] if result.archive else [],
            }
        )
    )


if __name__ == "__main__":
    main()
