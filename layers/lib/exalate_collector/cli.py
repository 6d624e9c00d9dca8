"""``exalate-collector``: run a collection outside AWS (cron), the demo, the simulator, the docs.

Exit codes: 0 the run completed (poll failures are reported as telemetry, not as an exit code);
1 the run's output was not all delivered (the telemetry backend refused the export, or the answers
could not be archived), ``check`` found a step that failed, or the command could not start
(``simulate`` on a busy port); 2 the configuration, an environment variable or an option is invalid;
3 no poll of the run succeeded; 70 a bug in exalate-collector (the only case that prints a traceback);
130 interrupted. When several apply, the one found first in the run's course wins: 2 (nothing was
tried) before 3 (nothing was collected) before 1 (what was collected was not all delivered).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import re
import socket
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from . import __version__, logs
from .archive.sinks import ArchiveSink, sink_for
from .config import Config, load_config, parse_config, unset_environment_secrets
from .console import summary, verdict
from .endpoints import BLOB_ERRORS
from .errors import ConfigError
from .runner import RunResult, run
from .settings import Settings
from .state.store import StateStore, store_for
from .telemetry.otel import OtelPipeline, cli_instance_id, otlp_configured

if TYPE_CHECKING:
    from .devtools.otlp_receiver import OtlpReceiver
    from .simulator import NodeSimulator

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


def _names(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError(f"{text!r} names no relation (comma-separated names)")
    return names


_STATUS = re.compile(r"[A-Z][A-Z_]*")


def _connections(text: str) -> list[tuple[str, str]]:
    """``AllContent,Legacy:DEACTIVATED`` -> [("AllContent", "ACTIVE"), ("Legacy", "DEACTIVATED")]."""
    found = []
    for item in _names(text):
        name, _, status = item.rpartition(":")
        if not name or not _STATUS.fullmatch(status):
            name, status = item, "ACTIVE"  # no status: a name (which may hold a colon)
        found.append((name.strip(), status))
    return found


def _user_password(text: str) -> tuple[str, str]:
    user, colon, password = text.partition(":")
    if not colon or not password:
        raise argparse.ArgumentTypeError(
            "must be USER:PASSWORD with a password (':TOKEN' for an empty user and a personal access token)"
        )
    return user, password


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

    check_cmd = sub.add_parser(
        "check",
        help="try every node once (secrets, DNS, connect, TLS, login, discovery, one GET of each endpoint)"
        " and print what to fix; exports, archives and stores nothing",
        description="Validates the configuration, resolves every secret and tries each node as a run"
        " would: the host name, the connection, TLS, the login (auth type login), the connection list"
        " (relations: auto), then one GET of each endpoint it collects for one relation. Prints one row"
        " per step, with a fix for each failure. Exit 0 when every step passed, 1 otherwise (2: the"
        " configuration itself is invalid). Nothing is exported, archived or stored.",
    )
    check_cmd.add_argument("--config", help="YAML/JSON file, or ssm:<name> (default: $EXALATE_COLLECTOR_CONFIG)")
    check_cmd.add_argument(
        "--deadline", type=_positive_seconds, default=60.0, help="seconds for the whole check (default 60)"
    )

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
        description="Serves a simulated Exalate node on 127.0.0.1: the six 2.4 endpoints of each relation"
        " with the API document's examples, the 4.0 endpoints (queue totals, cmonitor, the connection"
        " list), and the credentials chosen (a JWT with a shared secret by default; --login, --token or"
        " --basic). It prints a configuration that polls it.",
    )
    sim.add_argument("--port", type=_port, default=8089, help="TCP port on 127.0.0.1 (default 8089; 0: any free)")
    sim.add_argument(
        "--relations",
        type=_names,
        default=None,
        metavar="NAMES",
        help="comma-separated relations it serves (default AllContent,GROOVY; none with --connections alone)",
    )
    sim.add_argument(
        "--connections",
        type=_connections,
        default=[],
        metavar="NAME[:STATUS],...",
        help="connections its 4.0 list names (for relations: auto), each ACTIVE unless a status follows,"
        " e.g. AllContent,Legacy:DEACTIVATED; each is served like --relations, which are listed as ACTIVE",
    )
    auth = sim.add_mutually_exclusive_group()
    auth.add_argument(
        "--login",
        type=_user_password,
        default=None,
        metavar="USER:PASSWORD",
        help="serve POST /rest/issuehub/4.0/authenticate for this user (':TOKEN' for an empty user and a"
        " personal access token) and accept on GETs only its JWT, in X-exalate-jwt (auth type login)",
    )
    auth.add_argument("--token", default=None, help="accept only this static token, sent any way (auth type token)")
    auth.add_argument(
        "--basic",
        type=_user_password,
        default=None,
        metavar="USER:PASSWORD",
        help="accept only basic auth with these (auth type basic)",
    )
    sim.add_argument(
        "--secret",
        default=DEMO_SECRET,
        help="the shared secret of JWTs it accepts, and signs its login tokens with (default: a demo secret)",
    )
    sim.add_argument(
        "--context-path",
        default="/jira",
        metavar="PATH",
        help="the Jira context path the API lives under (default /jira; '' for a cloud node's root)",
    )
    sim.add_argument(
        "--latency",
        type=_non_negative_seconds,
        default=0.0,
        help="seconds added to every answer (default 0)",
        metavar="SECONDS",
    )
    sim.add_argument(
        "--broken-blob-errors",
        action="store_true",
        help="serve the API document's bloberrorresponses example byte for byte: invalid JSON (a comma is"
        " missing), an invalid_json failure; by default it is served with the comma restored",
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
    if args.command == "check":
        from . import check

        report = check.check(load_config(args.config or args.settings.config_ref), args.deadline)
        print(check.render(report))
        return check.exit_code(report)
    if args.command == "demo":
        if args.no_state or args.state_dir:
            return demo(args.deadline, _sink(args), _state(args))
        with tempfile.TemporaryDirectory(prefix="exalate-demo-state-") as directory:
            state = store_for(Settings(), in_lambda=False, local_dir=directory)
            return demo(args.deadline, _sink(args), state, state_note=_TEMPORARY_STATE)
    if args.command == "simulate":
        return simulate(_simulation(args))
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
    _print_outputs(result)
    if not exporting and not [r for r in result.outputs if r.name != "otlp"]:
        print("\n(no OTEL_EXPORTER_OTLP_ENDPOINT set: nothing was exported; the summary above is the output)")
    print(verdict(result.exchanges))
    return _exit_code(result)


def _print_outputs(result: RunResult) -> None:
    for report in result.outputs:
        for line in report.lines:
            print(line)


def _print_archive(result: RunResult) -> None:
    if result.archive is None:
        return
    for node, where in result.archive.delivered.items():
        print(f"archived node {node}: {where}")
    for node, failure in result.archive.failures:
        print(f"NOT archived node {node}: {failure.error_type}: {failure.detail}")


#: No poll of the run succeeded: what was delivered says only that (docs/running.md, exit codes).
EXIT_NOTHING_POLLED = 3


def _exit_code(result: RunResult) -> int:
    """1 for output not delivered, 3 when nothing was polled (it wins: the cause to fix first)."""
    code = 0
    for problem in result.undelivered():
        print(f"exalate-collector: {problem}", file=sys.stderr)
        code = 1
    if result.nothing_polled:
        print(
            f"exalate-collector: no poll of this run succeeded ({result.failures} of {len(result.exchanges)} failed);"
            " 'exalate-collector check --config FILE' tries each node step by step and says what to fix",
            file=sys.stderr,
        )
        code = EXIT_NOTHING_POLLED
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
EXAMPLES_NOTE = (
    "answers: the API document's examples; its bloberrorresponses example misses a comma, so the simulator\n"
    "         serves it repaired, as a sound node would (simulate --broken-blob-errors serves it as printed)"
)


def demo(
    deadline: float, archive: ArchiveSink | None, state: StateStore | None, *, state_note: str | None = None
) -> int:
    """Two runs against the simulator (seed examples; one relation removed), to a local OTLP receiver
    or to the backend set in OTEL_EXPORTER_OTLP_ENDPOINT.

    Between them a sync error is fixed on GROOVY, a connection is created on jira-auto, and the
    attachment error queue of jira-demo's AllContent starts failing (HTTP 500); the second run is
    dated five minutes later, as the next scheduled run would be, so that queue ages, the resolved
    error and a failed endpoint in the verdict show. The log lines go to ./exalate-demo.log: the
    tables show each failure once.
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
        node = stack.enter_context(NodeSimulator(["AllContent", "GROOVY"], secret=secret, examples="repaired"))
        auto = stack.enter_context(
            NodeSimulator(["AllContent", "GROOVY"], secret=secret, login=login, login_only=True, examples="repaired")
        )
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
        print(EXAMPLES_NOTE)
        if state_note:
            print(state_note)
        print(f"log lines: {log_path}")
        pipeline = OtelPipeline.from_environment(DEMO_INSTANCE)
        now = time.time()
        print("\n=== run 1 ===")
        first = run(config, deadline, pipeline, archive, state, clock=lambda: now)
        _show(first, receiver)
        node.set("GROOVY", SYNC_ERRORS, Behaviour(body=b"[]"))
        node.set("AllContent", BLOB_ERRORS, Behaviour(status=500, body=b'{"message":"java.lang.NullPointerException"}'))
        auto.add_connection("NewPartner")
        for queue in (SYNC_ERRORS, BLOB_ERRORS):  # a new connection without errors
            auto.set("NewPartner", queue, Behaviour(body=b"[]"))
        print(
            "\n=== run 2: five minutes later; the sync error on GROOVY was fixed meanwhile, connection NewPartner"
            " was created on jira-auto, and jira-demo's AllContent answers 500 for its blob errors ==="
        )
        second = run(config, deadline, pipeline, archive, state, clock=lambda: now + 300)
        _show(second, receiver)
        print(
            "note: the blob error of jira-demo/AllContent is not reported resolved: its queue could not be read"
            " (server_error), so the verdict counts it as unread"
        )
        print(f"\nmethods the node saw: {', '.join(sorted({r.method for r in node.seen}))}")
        posts = [r.path for r in auto.seen if r.method != "GET"]
        print(f"requests to jira-auto other than GET: {len(posts)} ({', '.join(sorted(set(posts)))}: the login)")
        return max(_exit_code(first), _exit_code(second))


def _show(result: RunResult, receiver: OtlpReceiver | None) -> None:
    print(summary(result.exchanges, result.telemetry))
    for found in result.discoveries.values():
        how = "from the node's connection list" if found.failure is None else "from the state (discovery failed)"
        print(f"relations of {found.node} {how}: {', '.join(found.relations) or 'none'}")
    _print_archive(result)
    _print_outputs(result)
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


@dataclass(frozen=True)
class Simulation:
    """What ``simulate`` serves: its relations and connection list, credentials and examples."""

    port: int = 8089
    relations: tuple[str, ...] = ("AllContent", "GROOVY")
    #: Status of each relation in the 4.0 connection list (ACTIVE when not named).
    statuses: Mapping[str, str] = field(default_factory=dict)
    secret: str = DEMO_SECRET
    login: tuple[str, str] | None = None
    token: str | None = None
    basic: tuple[str, str] | None = None
    context_path: str = "/jira"
    latency: float = 0.0
    broken_blob_errors: bool = False

    def simulator(self) -> NodeSimulator:
        from .simulator import NodeSimulator

        node = NodeSimulator(
            list(self.relations),
            context_path=self.context_path,
            secret=self.secret,
            static_token=self.token,
            basic=self.basic,
            latency_s=self.latency,
            login=self.login,
            login_only=True,
            examples="seed" if self.broken_blob_errors else "repaired",
        )
        for name, status in self.statuses.items():
            node.set_status(name, status)
        return node


def _simulation(args: argparse.Namespace) -> Simulation:
    listed = dict(args.connections)
    relations = args.relations if args.relations is not None else ([] if listed else ["AllContent", "GROOVY"])
    context_path = args.context_path.strip()
    if context_path and not context_path.startswith("/"):
        context_path = "/" + context_path
    return Simulation(
        port=args.port,
        relations=tuple(dict.fromkeys([*relations, *listed])),
        statuses={name: status for name, status in listed.items() if status != "ACTIVE"},
        secret=args.secret,
        login=args.login,
        token=args.token,
        basic=args.basic,
        context_path=context_path.rstrip("/"),
        latency=args.latency,
        broken_blob_errors=args.broken_blob_errors,
    )


def simulate(simulation: Simulation) -> int:
    simulator = simulation.simulator()
    try:
        simulator.start(simulation.port)
    except OSError as exc:
        reason = (exc.strerror or str(exc)).lower()
        raise CommandFailed(
            f"cannot listen on 127.0.0.1:{simulation.port}: {reason}; choose another --port (0: any free port)"
        ) from None
    with simulator as node:
        print(simulation_banner(node.base_url, simulation), flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


def _yaml(text: str) -> str:
    return json.dumps(text)  # a JSON string is a YAML scalar, quoted ('}', ':', '' and all)


def simulation_banner(base_url: str, simulation: Simulation) -> str:
    """What ``simulate`` serves, and a configuration that polls it."""
    from .simulator.server import LOGIN_PATH

    relations = list(simulation.relations)
    listed = ", ".join(f"{name} {simulation.statuses.get(name, 'ACTIVE')}" for name in relations) or "empty"
    lines = [
        f"simulated Exalate node at {base_url}",
        f"  relations served: {', '.join(relations) or 'none'}"
        " (any other relation answers 400 'Connection ... not found')",
        f"  connection list (GET 4.0/connections, for relations: auto): {listed}",
        "  blob errors: "
        + (
            "the API document's example byte for byte: invalid JSON, a comma is missing (--broken-blob-errors)"
            if simulation.broken_blob_errors
            else "the API document's example with its missing comma restored (--broken-blob-errors: as printed)"
        ),
    ]
    if simulation.latency:
        lines.append(f"  latency: {simulation.latency:g} s added to every answer")
    if simulation.login is not None:
        user, password = simulation.login
        variable = "EXALATE_PASSWORD"
        lines.append(
            f"  credentials: login, POST {simulation.context_path}{LOGIN_PATH} as user {user!r} with password"
            f" {password!r}; GETs then take only its JWT, in X-exalate-jwt"
        )
        auth = f"{{type: login, username: {_yaml(user)}, password: {_yaml('${' + variable + '}')}}}"
    elif simulation.token is not None:
        variable = "EXALATE_TOKEN"
        lines.append(f"  credentials: the static token {simulation.token!r} (any send_as)")
        auth = f"{{type: token, token: {_yaml('${' + variable + '}')}, send_as: x-exalate-jwt}}"
    elif simulation.basic is not None:
        user, _ = simulation.basic
        variable = "EXALATE_PASSWORD"
        lines.append(f"  credentials: basic, user {user!r} with the password {simulation.basic[1]!r}")
        auth = f"{{type: basic, username: {_yaml(user)}, password: {_yaml('${' + variable + '}')}}}"
    else:
        variable = "EXALATE_JWT_SECRET"
        lines.append(
            f"  credentials: JWT HS256 with the shared secret {simulation.secret!r}"
            " (any send_as; exp in s or ms; qsh checked when present)"
        )
        auth = f"{{type: jwt, secret: {_yaml('${' + variable + '}')}}}"
    lines += [
        f"  poll it with this configuration (and {variable} set to that {variable.rsplit('_', 1)[-1].lower()}):",
        "    nodes:",
        "      - name: simulated",
        f"        base_url: {base_url}",
    ]
    if simulation.login is not None or not relations:
        lines += ["        relations: auto", "        collect: [relations, queues, errors, connections]"]
    else:
        lines.append(f"        relations: [{', '.join(relations)}]")
    lines += [f"        auth: {auth}", "Ctrl-C to stop"]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
