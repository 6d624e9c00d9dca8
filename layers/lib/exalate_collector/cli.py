"""``exalate-collector``: run a collection outside AWS (cron), the demo, the simulator, the docs.

Exit codes: 0 the run completed (poll failures are reported as telemetry, not as an exit code);
1 the run's output was not all delivered (the telemetry backend refused the export, or the answers
could not be archived); 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from . import __version__, logs
from .archive.sinks import ArchiveSink, sink_from_environment
from .config import Config, load_config, parse_config
from .console import summary
from .errors import ConfigError
from .runner import RunResult, run
from .telemetry.otel import OtelPipeline, otlp_configured

log = logging.getLogger(__name__)

DEMO_SECRET_VAR = "EXALATE_DEMO_JWT_SECRET"
DEMO_SECRET = "demo-shared-secret-of-32-bytes-at-least"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exalate-collector", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", required=True)

    run_cmd = sub.add_parser("run", help="poll every configured node once and export")
    run_cmd.add_argument("--config", help="YAML/JSON file, or ssm:<name> (default: $EXALATE_COLLECTOR_CONFIG)")
    run_cmd.add_argument("--deadline", type=float, default=60.0, help="seconds for polling (default 60)")
    run_cmd.add_argument("--summary", action="store_true", help="also print the summary table when exporting")
    _archive_arguments(run_cmd)

    demo = sub.add_parser("demo", help="run one collection against the bundled simulator and show the result")
    demo.add_argument("--deadline", type=float, default=30.0)
    _archive_arguments(demo)

    sim = sub.add_parser("simulate", help="serve a simulated Exalate node until interrupted")
    sim.add_argument("--port", type=int, default=8089)
    sim.add_argument("--relations", default="AllContent,GROOVY")
    sim.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")

    sub.add_parser("docs", help="print docs/telemetry.md, generated from the telemetry contract")
    return parser


def _archive_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive-dir",
        default=None,
        help="local archive directory (default $ARCHIVE_DIR or ./exalate-archive; S3 when ARCHIVE_BUCKET is set)",
    )
    parser.add_argument("--no-archive", action="store_true", help="do not archive the raw answers")


def _sink(args: argparse.Namespace) -> ArchiveSink | None:
    if args.no_archive:
        return None
    return sink_from_environment(os.environ, in_lambda=False, local_dir=args.archive_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        if args.command == "run":
            config = load_config(args.config)
            return _run(config, args.deadline, _sink(args), print_summary=args.summary)
        if args.command == "demo":
            return demo(args.deadline, _sink(args))
        if args.command == "simulate":
            return simulate(args.port, args.relations.split(","), args.latency)
        from .telemetry.docs import render

        sys.stdout.write(render())
        return 0
    except ConfigError as exc:
        print(f"exalate-collector: {exc}", file=sys.stderr)
        return 2


def _run(config: Config, deadline: float, archive: ArchiveSink | None, *, print_summary: bool) -> int:
    exporting = otlp_configured(os.environ)
    publisher = OtelPipeline.from_environment() if exporting else None
    result = run(config, deadline, publisher, archive)
    if not exporting or print_summary:
        print(summary(result.exchanges, result.telemetry))
        _print_archive(result)
    if not exporting:
        print("\n(no OTEL_EXPORTER_OTLP_ENDPOINT set: nothing was exported; the summary above is the output)")
    return _exit_code(result)


def _print_archive(result: RunResult) -> None:
    if result.archive is None:
        return
    for node, where in result.archive.delivered.items():
        print(f"archived node {node}: {where}")
    for node, failure in result.archive.failures:
        print(f"NOT archived node {node}: {failure.error_type}: {failure.detail}")


def _exit_code(result: RunResult) -> int:
    code = 0
    if result.export_failed:
        print("exalate-collector: the telemetry backend refused the export or was unreachable", file=sys.stderr)
        code = 1
    if result.archive_failed:
        print("exalate-collector: some answers could not be archived (see the log)", file=sys.stderr)
        code = 1
    return code


def demo_config(base_url: str) -> Config:
    return parse_config(
        {
            "nodes": [
                {
                    "name": "jira-demo",
                    "base_url": base_url,
                    "relations": ["AllContent", "GROOVY", "RemovedPartner"],
                    "auth": {"type": "jwt", "secret": "${" + DEMO_SECRET_VAR + "}"},
                }
            ]
        }
    )


def demo(deadline: float, archive: ArchiveSink | None) -> int:
    """The simulator (seed examples; one relation removed), a local OTLP receiver, one real run."""
    from .devtools.otlp_receiver import OtlpReceiver
    from .simulator import NodeSimulator

    os.environ.setdefault(DEMO_SECRET_VAR, DEMO_SECRET)
    with NodeSimulator(["AllContent", "GROOVY"], secret=os.environ[DEMO_SECRET_VAR]) as node:
        config = demo_config(node.base_url)
        print(f"simulated Exalate node: {node.base_url}  (relations AllContent, GROOVY; RemovedPartner is gone)")
        if otlp_configured(os.environ):
            print(f"exporting to your backend: {os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT')}\n")
            return _run(config, deadline, archive, print_summary=True)
        with OtlpReceiver() as receiver:
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
            try:
                print(f"local OTLP/HTTP receiver: {receiver.endpoint}\n")
                result = run(config, deadline, OtelPipeline.from_environment(), archive)
            finally:
                del os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
            print(summary(result.exchanges, result.telemetry))
            _print_archive(result)
            for where in result.archive.delivered.values() if result.archive else ():
                if not where.startswith("s3://"):
                    print(f"read one record back: gzip -dc '{where}' | head -n 1 | python3 -m json.tool")
            got = receiver.received
            print(
                f"\nthe OTLP receiver decoded {len(receiver.points())} metric points in "
                f"{len(got.metric_requests)} request(s) and {len(receiver.events())} events in "
                f"{len(got.log_requests)} request(s), {got.bytes_received} bytes "
                f"({', '.join(sorted(set(got.content_encodings)))})"
            )
            gets = {r.method for r in node.seen}
            print(f"methods the node saw: {', '.join(sorted(gets))}")
            return _exit_code(result)


def simulate(port: int, relations: list[str], latency: float) -> int:
    import time

    from .simulator import NodeSimulator

    with NodeSimulator(relations, latency_s=latency).start(port) as node:
        print(f"simulated Exalate node at {node.base_url} (JWT secret {node.secret!r}); Ctrl-C to stop")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    raise SystemExit(main())
