"""The ``demo`` command: two collections, five minutes apart, against two bundled node simulators (one
polled by relation, one by ``relations: auto`` with a login), exported to a local OTLP receiver or to the
backend of ``OTEL_EXPORTER_OTLP_ENDPOINT`` (and to Zabbix with ``$EXALATE_DEMO_ZABBIX``). Between the
runs the simulators change (an error fixed, a connection added, a queue failing), so that each table,
the resolved error and the verdict show what a real run would report. The test doubles are imported
only when the demo runs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import time
from pathlib import Path
from typing import TYPE_CHECKING

from . import logs
from .archive.sinks import ArchiveSink
from .cli_report import CommandFailed, exit_code, print_archive, print_outputs
from .cli_simulate import DEMO_SECRET
from .config import Config, parse_config
from .console import summary, verdict
from .endpoints import BLOB_ERRORS
from .runner import RunResult, run
from .state.store import StateStore
from .telemetry.otel import OtelPipeline, otlp_configured

if TYPE_CHECKING:
    from .devtools.otlp_receiver import OtlpReceiver

DEMO_SECRET_VAR = "EXALATE_DEMO_JWT_SECRET"
DEMO_INSTANCE = f"{socket.gethostname()}:demo"
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


TEMPORARY_STATE = (
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
        return max(exit_code(first), exit_code(second))


def _show(result: RunResult, receiver: OtlpReceiver | None) -> None:
    print(summary(result.exchanges, result.telemetry))
    for found in result.discoveries.values():
        how = "from the node's connection list" if found.failure is None else "from the state (discovery failed)"
        print(f"relations of {found.node} {how}: {', '.join(found.relations) or 'none'}")
    print_archive(result)
    print_outputs(result)
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
