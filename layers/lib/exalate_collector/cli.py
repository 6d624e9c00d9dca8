"""``exalate-collector``: run a collection outside AWS (cron), the demo, the simulator, the docs.

Exit codes: 0 the run completed (poll failures are reported as telemetry, not as an exit code);
1 the run's output was not all delivered (the telemetry backend refused the export, or the answers
could not be archived), or the command could not start (``simulate`` on a busy port); 2 the
configuration, an environment variable or an option is invalid; 70 a bug in exalate-collector (the
only case that prints a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, logs
from .archive.sinks import ArchiveSink, sink_for
from .config import Config, load_config, parse_config, unset_environment_secrets
from .console import summary, verdict
from .endpoints import BLOB_ERRORS
from .errors import ConfigError, InvalidJson
from .runner import RunResult, run
from .settings import Settings
from .state.store import StateStore, store_for
from .telemetry.otel import OtelPipeline, cli_instance_id, export_failure_message, otlp_configured

if TYPE_CHECKING:
    from .devtools.otlp_receiver import OtlpReceiver

log = logging.getLogger(__name__)

DEMO_SECRET_VAR = "EXALATE_DEMO_JWT_SECRET"
DEMO_SECRET = "demo-shared-secret-of-32-bytes-at-least"
DEMO_INSTANCE = f"{socket.gethostname()}:demo"
#: The longest --deadline or --latency: a day.
MAX_SECONDS = 86400


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if math.isnan(value) or math.isinf(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    if value > MAX_SECONDS:  # beyond time_t, a thread's join or sleep raises OverflowError
        raise argparse.ArgumentTypeError(f"{text!r} is more than a day ({MAX_SECONDS} seconds)")
    return value


def _positive_seconds(text: str) -> float:
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds greater than 0, got {text}")
    return value


def _non_negative_seconds(text: str) -> float:
    value = _seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, 0 or more, got {text}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port from 0 to 65535 (0: any free port), got {text}")
    return int(text)


def _log_level(text: str) -> str:
    level = text.upper()
    if level not in logs.LEVELS:
        raise argparse.ArgumentTypeError(f"{text!r} is not one of {', '.join(logs.LEVELS)} (any case)")
    return level


def _common(parser: argparse.ArgumentParser, *, default: object) -> None:
    """Options accepted before and after the subcommand (``--log-level debug run`` = ``run --log-level debug``)."""
    parser.add_argument(
        "--log-level",
        type=_log_level,
        default=default,
        metavar="LEVEL",
        help=f"{', '.join(logs.LEVELS)}, in any case (default $EXALATE_LOG_LEVEL, else INFO)",
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="exalate-collector", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _common(parser, default=None)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", help="what to do (COMMAND --help)")

    run_cmd = sub.add_parser("run", help="poll every configured node once and export (for cron)")
    run_cmd.add_argument("--config", help="YAML/JSON file, or ssm:<name> (default: $EXALATE_COLLECTOR_CONFIG)")
    run_cmd.add_argument(
        "--deadline",
        type=_positive_seconds,
        default=60.0,
        help="seconds for the whole run: polling, archive, state and export; more than 0 (default 60)",
    )
    run_cmd.add_argument("--summary", action="store_true", help="also print the summary table when exporting")
    run_cmd.add_argument(
        "--instance-id",
        default=None,
        help="service.instance.id of this deployment (default: host name and configuration path;"
        " OTEL_RESOURCE_ATTRIBUTES wins). Runs that may overlap need distinct ids",
    )
    _output_arguments(run_cmd)

    demo_cmd = sub.add_parser(
        "demo",
        help="two collections, five minutes apart, against the bundled simulator; shows what they produced",
        description="Starts the bundled Exalate node simulator (the API document's examples; one relation"
        " removed on the other side) and a local OTLP receiver (or uses your backend when"
        " OTEL_EXPORTER_OTLP_ENDPOINT is set), then runs two collections: the second dated five minutes"
        " later, after a sync error was fixed. Its state lives in a temporary directory unless --state-dir"
        " is given, so every demo tells the same story.",
    )
    demo_cmd.add_argument(
        "--deadline", type=_positive_seconds, default=30.0, help="seconds for polling, per run (default 30)"
    )
    _output_arguments(demo_cmd, demo=True)

    sim = sub.add_parser(
        "simulate",
        help="serve a simulated Exalate node until interrupted; prints its relations and credentials",
    )
    sim.add_argument("--port", type=_port, default=8089, help="TCP port on 127.0.0.1 (default 8089; 0: any free)")
    sim.add_argument(
        "--relations", default="AllContent,GROOVY", help="comma-separated relations it serves (default %(default)s)"
    )
    sim.add_argument(
        "--latency",
        type=_non_negative_seconds,
        default=0.0,
        help="seconds added to every answer (default 0)",
        metavar="SECONDS",
    )

    sub.add_parser("docs", help="print docs/telemetry.md, generated from the telemetry contract")
    for command in sub.choices.values():
        _common(command, default=argparse.SUPPRESS)
    return parser


def _output_arguments(parser: argparse.ArgumentParser, *, demo: bool = False) -> None:
    parser.add_argument(
        "--archive-dir",
        default=None,
        help="local archive directory (default $ARCHIVE_DIR or ./exalate-archive; S3 when ARCHIVE_BUCKET is set)",
    )
    parser.add_argument("--no-archive", action="store_true", help="do not archive the raw answers")
    parser.add_argument(
        "--state-dir",
        default=None,
        help="where runs remember what they saw (default: a temporary directory, removed afterwards)"
        if demo
        else "where runs remember what they saw (default $STATE_DIR or ./exalate-state;"
        " S3 with STATE_BUCKET or ARCHIVE_BUCKET)",
    )
    parser.add_argument("--no-state", action="store_true", help="remember nothing: every error is reported every run")


def _sink(args: argparse.Namespace) -> ArchiveSink | None:
    if args.no_archive:
        return None
    return sink_for(args.settings, in_lambda=False, local_dir=args.archive_dir)


def _state(args: argparse.Namespace) -> StateStore | None:
    if args.no_state:
        return None
    return store_for(args.settings, in_lambda=False, local_dir=args.state_dir)


class CommandFailed(Exception):
    """Something the user can fix outside the configuration (e.g. a busy port); exit 1 with the message."""


#: A bug in exalate-collector: the traceback is printed, with a line saying so.
EXIT_BUG = 70


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        args.settings = Settings.from_environment(os.environ)  # every variable read and checked once
        logs.configure(args.log_level or args.settings.log_level)
        return _dispatch(args)
    except ConfigError as exc:
        print(f"exalate-collector: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"exalate-collector: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception:  # noqa: BLE001 - the last line of defence: say it is a bug, with the traceback
        traceback.print_exc()
        print(
            f"exalate-collector {__version__}: this is a bug in exalate-collector, not a problem with your setup;"
            " please report it with the traceback above",
            file=sys.stderr,
        )
        return EXIT_BUG


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "run":
        config = load_config(args.config or args.settings.config_ref)
        unset = unset_environment_secrets(config, os.environ)
        if unset:
            raise ConfigError(unset)
        instance = args.instance_id or cli_instance_id(args.config or args.settings.config_ref)
        request_bytes = args.settings.otlp_max_request_bytes
        return _run(
            config,
            args.deadline,
            _sink(args),
            _state(args),
            instance,
            print_summary=args.summary,
            request=request_bytes,
        )
    if args.command == "demo":
        if args.no_state or args.state_dir:
            return demo(args.deadline, _sink(args), _state(args))
        with tempfile.TemporaryDirectory(prefix="exalate-demo-state-") as directory:
            state = store_for(Settings(), in_lambda=False, local_dir=directory)
            return demo(args.deadline, _sink(args), state, state_note=_TEMPORARY_STATE)
    if args.command == "simulate":
        return simulate(args.port, [r.strip() for r in args.relations.split(",") if r.strip()], args.latency)
    from .telemetry.docs import render

    sys.stdout.write(render())
    return 0


def _run(
    config: Config,
    deadline: float,
    archive: ArchiveSink | None,
    state: StateStore | None,
    instance_id: str,
    *,
    print_summary: bool,
    request: int | None = None,
) -> int:
    exporting = otlp_configured(os.environ)
    publisher = OtelPipeline.from_environment(instance_id, max_request_bytes=request) if exporting else None
    result = run(config, deadline, publisher, archive, state)
    if not exporting or print_summary:
        print(summary(result.exchanges, result.telemetry))
        _print_archive(result)
    if result.zabbix is not None:
        _print_zabbix(result)
    elif not exporting:
        print("\n(no OTEL_EXPORTER_OTLP_ENDPOINT set: nothing was exported; the summary above is the output)")
    return _exit_code(result)


def _print_archive(result: RunResult) -> None:
    if result.archive is None:
        return
    for node, where in result.archive.delivered.items():
        print(f"archived node {node}: {where}")
    for node, failure in result.archive.failures:
        print(f"NOT archived node {node}: {failure.error_type}: {failure.detail}")


def _print_zabbix(result: RunResult) -> None:
    report = result.zabbix
    if report is None:
        return
    print(f"zabbix: processed {report.processed}, failed {report.failed}, total {report.total}")
    pending = sum(report.pending.values())
    if pending:
        print(
            f"zabbix: {pending} values of newly discovered items were refused; the server accepts them after its"
            " next configuration cache update, i.e. from the next run on (see README, Zabbix)"
        )


def _exit_code(result: RunResult) -> int:
    code = 0
    if result.zabbix_failed and result.zabbix is not None and result.zabbix.failure is not None:
        print(f"exalate-collector: zabbix_send_failed: {result.zabbix.failure.detail}", file=sys.stderr)
        code = 1
    if result.export is not None and not result.export.ok:
        print(f"exalate-collector: {export_failure_message(result.export)}", file=sys.stderr)
        code = 1
    if result.archive_failed:
        print("exalate-collector: some answers could not be archived (see the log)", file=sys.stderr)
        code = 1
    return code


DEMO_PASSWORD_VAR = "EXALATE_DEMO_PASSWORD"
DEMO_ZABBIX_VAR = "EXALATE_DEMO_ZABBIX"


def demo_config(base_url: str, auto_url: str, zabbix: str | None = None) -> Config:
    """The demo's nodes; with ``zabbix`` (``host[:port]``, from $EXALATE_DEMO_ZABBIX) it also sends there,
    to the Zabbix hosts ``jira-demo`` and ``jira-auto``."""
    raw: dict[str, object] = {
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
    if zabbix:
        server, _, port = zabbix.partition(":")
        raw["zabbix"] = {"server": server, "port": int(port) if port.isdigit() else 10051}
    return parse_config(raw)


_TEMPORARY_STATE = (
    "state: a temporary directory, removed at the end, so every demo tells the same story"
    " (--state-dir DIR keeps it between demos)"
)
DEMO_LOG = "exalate-demo.log"
SEED_NOTE = (
    "note: invalid_json on syncrequests/bloberrorresponses is expected here. The simulator serves the API\n"
    "      document's own example for that endpoint byte for byte, and that example misses a comma after\n"
    '      "errorMessage" (line 11). A real node sends valid JSON; the collector reports what it got.'
)


def demo(
    deadline: float, archive: ArchiveSink | None, state: StateStore | None, *, state_note: str | None = None
) -> int:
    """Two runs against the simulator (seed examples; one relation removed), to a local OTLP receiver
    or to the backend set in OTEL_EXPORTER_OTLP_ENDPOINT.

    Between them a sync error is fixed on GROOVY; the second run is dated five minutes later, as the
    next scheduled run would be, so that queue ages and the resolved error show. The log lines go to
    ./exalate-demo.log: the tables show each failure once.
    """
    from .devtools.otlp_receiver import OtlpReceiver
    from .endpoints import SYNC_ERRORS
    from .simulator import Behaviour, NodeSimulator

    os.environ.setdefault(DEMO_SECRET_VAR, DEMO_SECRET)
    os.environ.setdefault(DEMO_PASSWORD_VAR, "demo-password")
    secret = os.environ[DEMO_SECRET_VAR]
    login = ("monitor", os.environ[DEMO_PASSWORD_VAR])
    log_path = Path(DEMO_LOG).resolve()
    level = logging.getLevelName(logging.getLogger().level)
    try:
        log_file = log_path.open("w", encoding="utf-8")
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise CommandFailed(f"cannot write {log_path}: {reason}; run the demo in a writable directory") from None
    with log_file, contextlib.ExitStack() as stack:
        logs.configure(level, stream=log_file)
        stack.callback(logs.configure, level)  # back to stderr before the file closes
        node = stack.enter_context(NodeSimulator(["AllContent", "GROOVY"], secret=secret))
        auto = stack.enter_context(NodeSimulator(["AllContent", "GROOVY"], secret=secret, login=login))
        config = demo_config(node.base_url, auto.base_url, os.environ.get(DEMO_ZABBIX_VAR))
        print(f"simulated Exalate node: {node.base_url}  (relations AllContent, GROOVY; RemovedPartner is gone)")
        print(f"simulated Exalate node: {auto.base_url}  (relations: auto, login; a connection is added after run 1)")
        if config.zabbix is not None:
            zabbix = f"{config.zabbix.server}:{config.zabbix.port}"
            print(f"sending to Zabbix {zabbix}, hosts jira-demo and jira-auto ({DEMO_ZABBIX_VAR})")
        receiver: OtlpReceiver | None = None
        if otlp_configured(os.environ):
            print(f"exporting to your backend: {os.environ.get('OTEL_EXPORTER_OTLP_ENDPOINT')}")
        else:
            receiver = stack.enter_context(OtlpReceiver())
            os.environ["OTEL_EXPORTER_OTLP_ENDPOINT"] = receiver.endpoint
            stack.callback(os.environ.pop, "OTEL_EXPORTER_OTLP_ENDPOINT", None)
            print(f"local OTLP/HTTP receiver: {receiver.endpoint}")
        if state_note:
            print(state_note)
        print(f"log lines: {log_path}")
        pipeline = OtelPipeline.from_environment(DEMO_INSTANCE)
        now = time.time()
        print("\n=== run 1 ===")
        first = run(config, deadline, pipeline, archive, state, clock=lambda: now)
        _show(first, receiver, SEED_NOTE)
        node.set("GROOVY", SYNC_ERRORS, Behaviour(body=b"[]"))
        auto.add_connection("NewPartner")
        auto.set("NewPartner", SYNC_ERRORS, Behaviour(body=b"[]"))  # a new connection without errors
        print(
            "\n=== run 2: five minutes later; the sync error on GROOVY was fixed meanwhile,"
            " and connection NewPartner was created on jira-auto ==="
        )
        second = run(config, deadline, pipeline, archive, state, clock=lambda: now + 300)
        _show(second, receiver, "note: invalid_json again: the API document's broken example (see run 1)")
        print(f"\nmethods the node saw: {', '.join(sorted({r.method for r in node.seen}))}")
        posts = [r.path for r in auto.seen if r.method != "GET"]
        print(f"requests to jira-auto other than GET: {len(posts)} ({', '.join(sorted(set(posts)))}: the login)")
        return max(_exit_code(first), _exit_code(second))


def _show(result: RunResult, receiver: OtlpReceiver | None, seed_note: str) -> None:
    print(summary(result.exchanges, result.telemetry))
    for found in result.discoveries.values():
        how = "from the node's connection list" if found.failure is None else "from the state (discovery failed)"
        print(f"relations of {found.node} {how}: {', '.join(found.relations) or 'none'}")
    if any(isinstance(ex.failure, InvalidJson) and ex.endpoint == BLOB_ERRORS for ex in result.exchanges):
        print(seed_note)
    _print_archive(result)
    _print_zabbix(result)
    for where in result.archive.delivered.values() if result.archive else ():
        if not where.startswith("s3://"):
            print(f"read one record back: gzip -dc '{where}' | head -n 1 | python3 -m json.tool")
    if receiver is not None:
        got = receiver.received
        print(
            f"the OTLP receiver decoded {len(receiver.points())} metric points in {len(got.metric_requests)} "
            f"request(s) and {len(receiver.events())} events in {len(got.log_requests)} request(s), "
            f"{got.bytes_received} bytes ({', '.join(sorted(set(got.content_encodings)))})"
        )
        receiver.clear()
    print(verdict(result.exchanges))


def simulate(port: int, relations: list[str], latency: float) -> int:
    from .simulator import NodeSimulator

    simulator = NodeSimulator(relations, latency_s=latency)
    try:
        simulator.start(port)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise CommandFailed(
            f"cannot listen on 127.0.0.1:{port}: {reason}; choose another --port (0: any free port)"
        ) from None
    with simulator as node:
        print(simulation_banner(node.base_url, relations, node.secret), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def simulation_banner(base_url: str, relations: list[str], secret: str | None) -> str:
    """What ``simulate`` serves, and a configuration that polls it."""
    return "\n".join(
        [
            f"simulated Exalate node at {base_url}",
            f"  relations served: {', '.join(relations)} (any other relation answers 400 'Connection ... not found')",
            f"  credentials: JWT HS256 with the shared secret {secret!r}"
            " (any send_as; exp in s or ms; qsh checked when present)",
            "  poll it with this configuration (and EXALATE_JWT_SECRET set to that secret):",
            "    nodes:",
            "      - name: simulated",
            f"        base_url: {base_url}",
            f"        relations: [{', '.join(relations)}]",
            '        auth: {type: jwt, secret: "${EXALATE_JWT_SECRET}"}',  # quoted: '}' ends a flow mapping
            "Ctrl-C to stop",
        ]
    )


if __name__ == "__main__":
    raise SystemExit(main())
