"""``exalate-collector``: run a collection outside AWS (cron), the demo, the simulator, the docs.

Exit codes: 0 the run completed (poll failures are reported as telemetry, not as an exit code);
1 the run's output was not all delivered (the telemetry backend refused the export, or the answers
could not be archived); 2 the configuration is invalid.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from . import __version__, logs
from .archive.sinks import ArchiveSink, sink_from_environment
from .config import Config, load_config, parse_config
from .console import summary
from .errors import ConfigError
from .runner import RunResult, run
from .state.store import StateStore, store_from_environment
from .telemetry.otel import OtelPipeline, cli_instance_id, otlp_configured

if TYPE_CHECKING:
    from .devtools.otlp_receiver import OtlpReceiver

log = logging.getLogger(__name__)

DEMO_SECRET_VAR = "EXALATE_DEMO_JWT_SECRET"
DEMO_SECRET = "demo-shared-secret-of-32-bytes-at-least"
DEMO_INSTANCE = f"{socket.gethostname()}:demo"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exalate-collector", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--log-level", default=None, help="DEBUG, INFO (default), WARNING, ERROR")
    sub = parser.add_subparsers(dest="command", required=True)

    run_cmd = sub.add_parser("run", help="poll every configured node once and export")
    run_cmd.add_argument("--config", help="YAML/JSON file, or ssm:<name> (default: $EXALATE_COLLECTOR_CONFIG)")
    run_cmd.add_argument(
        "--deadline",
        type=float,
        default=60.0,
        help="seconds for the whole run: polling, archive, state and export (default 60)",
    )
    run_cmd.add_argument("--summary", action="store_true", help="also print the summary table when exporting")
    run_cmd.add_argument(
        "--instance-id",
        default=None,
        help="service.instance.id of this deployment (default: host name and configuration path;"
        " OTEL_RESOURCE_ATTRIBUTES wins). Runs that may overlap need distinct ids",
    )
    _output_arguments(run_cmd)

    demo = sub.add_parser("demo", help="run one collection against the bundled simulator and show the result")
    demo.add_argument("--deadline", type=float, default=30.0)
    _output_arguments(demo)

    sim = sub.add_parser("simulate", help="serve a simulated Exalate node until interrupted")
    sim.add_argument("--port", type=int, default=8089)
    sim.add_argument("--relations", default="AllContent,GROOVY")
    sim.add_argument("--latency", type=float, default=0.0, help="seconds added to every answer")

    sub.add_parser("docs", help="print docs/telemetry.md, generated from the telemetry contract")
    return parser


def _output_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--archive-dir",
        default=None,
        help="local archive directory (default $ARCHIVE_DIR or ./exalate-archive; S3 when ARCHIVE_BUCKET is set)",
    )
    parser.add_argument("--no-archive", action="store_true", help="do not archive the raw answers")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where runs remember what they saw (default $STATE_DIR or ./exalate-state;"
        " S3 with STATE_BUCKET or ARCHIVE_BUCKET)",
    )
    parser.add_argument("--no-state", action="store_true", help="remember nothing: every error is reported every run")


def _sink(args: argparse.Namespace) -> ArchiveSink | None:
    if args.no_archive:
        return None
    return sink_from_environment(os.environ, in_lambda=False, local_dir=args.archive_dir)


def _state(args: argparse.Namespace) -> StateStore | None:
    if args.no_state:
        return None
    return store_from_environment(os.environ, in_lambda=False, local_dir=args.state_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logs.configure(args.log_level)
    try:
        if args.command == "run":
            config = load_config(args.config)
            instance = args.instance_id or cli_instance_id(args.config)
            return _run(config, args.deadline, _sink(args), _state(args), instance, print_summary=args.summary)
        if args.command == "demo":
            return demo(args.deadline, _sink(args), _state(args))
        if args.command == "simulate":
            return simulate(args.port, args.relations.split(","), args.latency)
        from .telemetry.docs import render

        sys.stdout.write(render())
        return 0
    except ConfigError as exc:
        print(f"exalate-collector: {exc}", file=sys.stderr)
        return 2


def _run(
    config: Config,
    deadline: float,
    archive: ArchiveSink | None,
    state: StateStore | None,
    instance_id: str,
    *,
    print_summary: bool,
) -> int:
    exporting = otlp_configured(os.environ)
    publisher = OtelPipeline.from_environment(instance_id) if exporting else None
    result = run(config, deadline, publisher, archive, state)
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


DEMO_PASSWORD_VAR = "EXALATE_DEMO_PASSWORD"


def demo_config(base_url: str, auto_url: str) -> Config:
    return parse_config(
        {
            "nodes": [
                {
                    "name": "jira-demo",
                    "base_url": base_url,
                    "relations": ["AllContent", "GROOVY", "RemovedPartner"],
                    "auth": {"type": "jwt", "secret": "${" + DEMO_SECRET_VAR + "}"},
                },
                {  # the whole node through the 4.0 API: its connections are discovered at every run
                    "name": "jira-auto",
                    "base_url": auto_url,
                    "relations": "auto",
                    "collect": ["relations", "queues", "errors", "connections"],
                    "auth": {"type": "login", "username": "monitor", "password": "${" + DEMO_PASSWORD_VAR + "}"},
                },
            ]
        }
    )


def demo(deadline: float, archive: ArchiveSink | None, state: StateStore | None) -> int:
    """Two runs against the simulator (seed examples; one relation removed) and a local OTLP receiver.

    Between them a sync error is fixed on GROOVY; the second run is dated five minutes later, as the
    next scheduled run would be, so that queue ages and the resolved error show.
    """
    from .devtools.otlp_receiver import OtlpReceiver
    from .endpoints import SYNC_ERRORS
    from .simulator import Behaviour, NodeSimulator

    os.environ.setdefault(DEMO_SECRET_VAR, DEMO_SECRET)
    os.environ.setdefault(DEMO_PASSWORD_VAR, "demo-password")
    secret = os.environ[DEMO_SECRET_VAR]
    login = ("monitor", os.environ[DEMO_PASSWORD_VAR])
    with (
        NodeSimulator(["AllContent", "GROOVY"], secret=secret) as node,
        NodeSimulator(["AllContent", "GROOVY"], secret=secret, login=login) as auto,
    ):
        config = demo_config(node.base_url, auto.base_url)
        print(f"simulated Exalate node: {node.base_url}  (relations AllContent, GROOVY; RemovedPartner is gone)")
        print(f"simulated Exalate node: {auto.base_url}  (relations: auto, login; a connection is added after run 1)")
        if otlp_configured(os.environ):
            print(f"exporting to your backend: {os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT')}\n")
            return _run(config, deadline, archive, state, DEMO_INSTANCE, print_summary=True)
        with OtlpReceiver() as receiver:
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
            try:
                print(f"local OTLP/HTTP receiver: {receiver.endpoint}")
                pipeline = OtelPipeline.from_environment(DEMO_INSTANCE)
                now = time.time()
                print("\n=== run 1 ===")
                first = run(config, deadline, pipeline, archive, state, clock=lambda: now)
                _show(first, receiver)
                node.set("GROOVY", SYNC_ERRORS, Behaviour(body=b"[]"))
                auto.add_connection("NewPartner")
                auto.set("NewPartner", SYNC_ERRORS, Behaviour(body=b"[]"))  # a new connection without errors
                print(
                    "\n=== run 2: five minutes later; the sync error on GROOVY was fixed meanwhile,"
                    " and connection NewPartner was created on jira-auto ==="
                )
                second = run(config, deadline, pipeline, archive, state, clock=lambda: now + 300)
                _show(second, receiver)
            finally:
                del os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"]
            print(f"\nmethods the node saw: {', '.join(sorted({r.method for r in node.seen}))}")
            posts = [r.path for r in auto.seen if r.method != "GET"]
            print(f"requests to jira-auto other than GET: {len(posts)} ({', '.join(sorted(set(posts)))}: the login)")
            return max(_exit_code(first), _exit_code(second))


def _show(result: RunResult, receiver: OtlpReceiver) -> None:
    print(summary(result.exchanges, result.telemetry))
    for found in result.discoveries.values():
        how = "from the node's connection list" if found.failure is None else "from the state (discovery failed)"
        print(f"relations of {found.node} {how}: {', '.join(found.relations) or 'none'}")
    _print_archive(result)
    for where in result.archive.delivered.values() if result.archive else ():
        if not where.startswith("s3://"):
            print(f"read one record back: gzip -dc '{where}' | head -n 1 | python3 -m json.tool")
    got = receiver.received
    print(
        f"the OTLP receiver decoded {len(receiver.points())} metric points in {len(got.metric_requests)} "
        f"request(s) and {len(receiver.events())} events in {len(got.log_requests)} request(s), "
        f"{got.bytes_received} bytes ({', '.join(sorted(set(got.content_encodings)))})"
    )
    receiver.clear()


def simulate(port: int, relations: list[str], latency: float) -> int:
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
