"""The Zabbix edge: a run's values to a Zabbix server or proxy with ``zabbix_utils.Sender``.

Per host, three batches over the Zabbix sender protocol (one TCP connection each, chunked by the library):

1. node items and the discovery data. These items exist as soon as the template is linked, so a refusal
   here is ``zabbix_send_failed``. The trapper takes a value only for an item in the server's
   configuration cache, which the server refreshes every ``CacheUpdateFrequency`` (60 s by default on
   6.0, 10 s on 7.0): a host created, or a template linked, since the last refresh is refused like a
   host that does not exist. The server's answer counts values, it does not say which or why, so
   the message names every cause, the not-yet-loaded host first when every value was refused (the
   usual first run after setting up the host), an older template when only some were.
2. the values of discovered items. Zabbix creates discovered items from the discovery data of batch 1,
   asynchronously, and accepts their values only after its next configuration cache update: in the
   first run after a host, relation, endpoint or error reason appears these values are refused. That
   is reported (log line, ``exalate.zabbix.values``, the CLI's summary), not a failure.
3. ``exalate.collector.refused``: how many values of batch 2 were refused, so that Zabbix itself raises a
   problem when refusals last ("values refused in consecutive runs").

An unreachable server or an error answer is ``zabbix_send_failed``.

Time: zabbix_utils applies its timeout to each socket operation, so a server that answers a byte at a
time (or announces a huge answer) could hold a run for ever. Every connection is therefore wrapped
(``deadline_wrapper``): all its sends and receives end by one wall-clock instant, ``timeout_s`` after
it was opened and never after the ``Deadline`` ``send`` was given (the run's Zabbix phase, budget.py);
an answer larger than ``MAX_ANSWER_BYTES`` is refused.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .. import secret_refs
from ..deadline import Deadline
from ..errors import ConfigError, ZabbixSendFailed
from ..node_config import ZabbixConfig, ZabbixTls
from ..telemetry.names import ZABBIX_FAILURE_EVENT, ZABBIX_FAILURES, ZABBIX_VALUES
from ..telemetry.points import Event, Point
from .mapping import SendPlan, Value, refused_values

log = logging.getLogger(__name__)

#: Values per sender request: Zabbix's own sender sends at most 250 per request.
CHUNK_SIZE = 250
#: A trapper answer is about a hundred bytes; a server announcing more than this is not answering.
MAX_ANSWER_BYTES = 1 << 20
#: Bytes per socket call (zabbix_utils asks recv() for the whole announced length at once).
IO_SLICE = 64 * 1024
#: How often a server loads new hosts and items by default (``CacheUpdateFrequency``), for the messages.
CACHE_UPDATE = "CacheUpdateFrequency: 60 s by default on Zabbix 6.0, 10 s on 7.0"


@dataclass
class ZabbixReport:
    """What the server answered to one run (summed over hosts and batches)."""

    processed: int = 0
    failed: int = 0
    total: int = 0
    #: Refused values of discovered items (batch 2), per host: the first-run delay, or a missing prototype.
    pending: dict[str, int] = field(default_factory=dict)
    #: Hosts none of whose node items the server took: not in its configuration cache (not yet, or not at all).
    unknown_hosts: list[str] = field(default_factory=list)
    failure: ZabbixSendFailed | None = None
    unsendable: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None


def report_telemetry(report: ZabbixReport) -> tuple[list[Point], list[Event]]:
    """The points and events that say what the Zabbix server did with a run's values."""
    points = [
        Point(ZABBIX_VALUES, count, {"exalate.zabbix.result": result})
        for result, count in (("processed", report.processed), ("failed", report.failed), ("total", report.total))
    ]
    events = []
    if report.failure is not None:
        where = {"error.type": report.failure.error_type}
        points.append(Point(ZABBIX_FAILURES, 1, where))
        events.append(Event(ZABBIX_FAILURE_EVENT, "ERROR", report.failure.detail, where))
    return points, events


def tls_wrapper(tls: ZabbixTls, server: str, resolve: Callable[[str], str]) -> Callable[[Any, Any], Any]:
    """A ``socket_wrapper`` for zabbix_utils: certificates everywhere, PSK where ``ssl`` has PSK callbacks."""
    if tls.psk_identity and tls.psk:
        if not hasattr(ssl.SSLContext, "set_psk_client_callback"):
            raise ConfigError(
                [
                    "zabbix.tls: PSK needs Python 3.13+ (ssl PSK callbacks), as in the Lambda runtime python3.13; "
                    "use certificates (ca_file, cert_file, key_file) on this Python"
                ]
            )
        try:
            key = bytes.fromhex(resolve(tls.psk).strip())
        except ValueError:
            raise ConfigError(["zabbix.tls.psk: not a hexadecimal key (as in Zabbix's PSK files)"]) from None
        identity = tls.psk_identity
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # a PSK authenticates both sides; there is no certificate
        context.maximum_version = ssl.TLSVersion.TLSv1_2  # PSK callbacks are TLS 1.2 cipher suites
        context.set_ciphers("PSK")
        context.set_psk_client_callback(lambda hint: (identity, key))  # type: ignore[attr-defined]
        hostname = None
    else:
        context = ssl.create_default_context(cafile=tls.ca_file)
        context.load_cert_chain(tls.cert_file or "", tls.key_file)
        hostname = server

    def wrap(connection: Any, _tls: Any) -> Any:
        return context.wrap_socket(connection, server_hostname=hostname)

    return wrap


class DeadlineSocket:
    """A connection whose every send and receive ends by ``deadline``."""

    def __init__(self, connection: Any, deadline: Deadline) -> None:
        self._connection = connection
        self._deadline = deadline
        self._received = 0

    def _arm(self) -> None:
        left = self._deadline.left()
        if left <= 0:
            raise TimeoutError("the Zabbix server did not answer in time")
        self._connection.settimeout(left)

    def sendall(self, data: bytes) -> None:
        view = memoryview(data)
        for at in range(0, len(view), IO_SLICE):
            self._arm()
            self._connection.sendall(view[at : at + IO_SLICE])

    def recv(self, size: int) -> bytes:
        self._arm()
        chunk: bytes = self._connection.recv(min(size, IO_SLICE))
        self._received += len(chunk)
        if self._received > MAX_ANSWER_BYTES:
            raise OSError(f"the Zabbix server's answer is larger than {MAX_ANSWER_BYTES} bytes")
        return chunk

    def close(self) -> None:
        self._connection.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._connection, name)


def deadline_wrapper(
    timeout_s: float, inner: Callable[[Any, Any], Any] | None, deadline: Deadline
) -> Callable[[Any, Any], Any]:
    """A ``socket_wrapper`` for zabbix_utils: ``inner`` (TLS) first, then ``DeadlineSocket``, ending
    ``timeout_s`` after the connection was opened or at ``deadline``, whichever is first."""

    def wrap(connection: socket.socket, tls: Any) -> DeadlineSocket:
        until = Deadline.after(timeout_s).sooner(deadline)
        wrapped = inner(connection, tls) if inner is not None else connection
        return DeadlineSocket(wrapped, until)

    return wrap


class ZabbixOutput:
    """Built per run from the configuration (cheap); ``send`` does the three batches per host, by its
    ``deadline``."""

    def __init__(
        self,
        config: ZabbixConfig,
        resolve: Callable[[str], str] = secret_refs.resolve,
        sender_factory: Callable[..., Any] | None = None,
    ) -> None:
        self.config = config
        self._tls = tls_wrapper(config.tls, config.server, resolve) if config.tls else None
        if sender_factory is None:
            from zabbix_utils import Sender

            sender_factory = Sender
        self._sender = sender_factory(
            server=config.server,
            port=config.port,
            timeout=config.timeout_s,
            chunk_size=CHUNK_SIZE,
            socket_wrapper=deadline_wrapper(config.timeout_s, self._tls, Deadline.NONE),  # each send sets its own
        )

    @property
    def where(self) -> str:
        return f"{self.config.server}:{self.config.port}"

    def _send(self, values: Sequence[Value], deadline: Deadline) -> tuple[int, int, int]:
        from zabbix_utils import ItemValue

        if not values:
            return 0, 0, 0
        left = deadline.left()  # the run's Zabbix phase (budget.py); +inf outside a run
        if left <= 0.05:
            raise TimeoutError("the run's time for Zabbix is spent")
        self._sender.timeout = min(self.config.timeout_s, left)
        answer = self._sender.send([ItemValue(v.host, v.key, v.value, v.clock, v.ns) for v in values])
        return int(answer.processed), int(answer.failed), int(answer.total)

    def _count(self, report: ZabbixReport, values: Sequence[Value], deadline: Deadline) -> tuple[int, int]:
        """Send, add the server's answer to the report, return how many values it took and refused."""
        processed, failed, total = self._send(values, deadline)
        report.processed += processed
        report.failed += failed
        report.total += total
        return processed, failed

    def send(self, plan: SendPlan, deadline: Deadline) -> ZabbixReport:
        report = ZabbixReport(unsendable=list(plan.unsendable))
        self._sender.socket_wrapper = deadline_wrapper(self.config.timeout_s, self._tls, deadline)
        problems: list[str] = []
        unreachable: str | None = None
        for host, batches in plan.hosts.items():
            if unreachable is not None:
                problems.append(f"host {host}: not sent (the server failed before: {unreachable})")
                continue
            try:
                taken, refused = self._count(report, batches.first, deadline)
                if refused and not taken:
                    report.unknown_hosts.append(host)
                    problems.append(
                        f"host {host}: all {refused} values of node items and discovery refused: the server"
                        " has no such host with the template in its configuration cache. Just created, or the"
                        f" template just linked: not loaded yet ({CACHE_UPDATE}); a run after that load is taken."
                        " Else: no host of that name, the host is disabled or monitored by a proxy (send to"
                        " the proxy), or the template is not linked to it"
                    )
                elif refused:
                    problems.append(
                        f"host {host}: {refused} of {taken + refused} values of node items and discovery refused:"
                        " the host lacks some of the template's items (the template is not linked, or is older"
                        " than this collector: import it again; or updated since the server last loaded it,"
                        f" {CACHE_UPDATE})"
                    )
                report.pending[host] = self._count(report, batches.second, deadline)[1]
                clock = batches.first[0].clock if batches.first else 0
                self._count(report, refused_values(host, report.pending[host], clock), deadline)
            except Exception as exc:  # noqa: BLE001 - zabbix_utils raises ProcessingError, OSError, ssl and JSON errors
                # A connection-level failure: the other hosts would wait for the same timeout; they are skipped.
                unreachable = f"{type(exc).__name__}: {_one_line(exc)}"
                problems.append(f"host {host}: {unreachable}")
        if problems:
            report.failure = ZabbixSendFailed(f"Zabbix {self.where}: " + "; ".join(problems))
        return report


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:300] or "no detail"


def log_report(report: ZabbixReport, where: str, run_id: str) -> None:
    extra = {
        "run_id": run_id,
        "zabbix.processed": report.processed,
        "zabbix.failed": report.failed,
        "zabbix.total": report.total,
    }
    log.info(
        "zabbix %s: processed %d, failed %d, total %d",
        where,
        report.processed,
        report.failed,
        report.total,
        extra=extra,
    )
    for host, refused in report.pending.items():
        if refused:
            log.warning(
                "zabbix host %s refused %d values of discovered items: expected in the first run after a "
                "host, relation, endpoint or error reason appears (Zabbix creates the items from this run's "
                "discovery data and takes their values after its next configuration cache update, "
                "i.e. from the next run on); a problem when it lasts",
                host,
                refused,
                extra={**extra, "zabbix.host": host},
            )
    if report.unsendable:
        log.warning(
            "not sent to zabbix (a key parameter Zabbix cannot quote: ends with a backslash): %s",
            ", ".join(report.unsendable),
            extra=extra,
        )
    if report.failure is not None:
        log.error(
            "zabbix send failed (error.type=%s): %s",
            report.failure.error_type,
            report.failure.detail,
            extra={**extra, "error.type": report.failure.error_type},
        )
