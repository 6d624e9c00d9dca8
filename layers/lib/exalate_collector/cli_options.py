"""The command line's grammar: every command and option of ``exalate-collector``, with the argument types
that check a value as it is parsed (seconds within a day, a TCP port, relation names, ``NAME[:STATUS]``
connections, ``USER:PASSWORD``, a log level), so that a bad value is a usage error (exit 2) naming its
option before anything runs. Pure: it builds an ``argparse`` parser and reads nothing else; what each
command then does with its arguments is ``cli``'s dispatch.
"""

from __future__ import annotations

import argparse
import math
import re

from . import __version__, logs
from .cli_simulate import DEMO_SECRET

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


def build_parser(description: str) -> argparse.ArgumentParser:
    """Every command and its options; ``description`` heads ``--help``."""
    parser = argparse.ArgumentParser(prog="exalate-collector", description=description)
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
