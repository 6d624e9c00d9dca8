"""Every request to an Exalate node, on asyncio + aiohttp: one ``NodeClient`` per node and poll.

What a hostile node can do is bounded here, in one place:

- time: a request (DNS, connect, proxy CONNECT, TLS, status line, headers and the whole body) ends by a
  wall-clock instant, ``asyncio.timeout``: a node dripping a byte a second, keep-alive or not, is cut;
- framing: aiohttp's llhttp parser refuses malformed, negative or huge chunk sizes, duplicate or
  conflicting Content-Length, Content-Length beside Transfer-Encoding and bad status lines; what it lets
  through for answers (obs-fold, header names that are not tokens, control characters in values, bytes
  before the request went out) ``strict_http.StrictResponseHandler`` refuses: ``InvalidResponse``, never
  a read to EOF. Bytes after an answer, or on an idle keep-alive connection, close that connection;
- size: the body is read in chunks, at most ``max_body_bytes``, in memory while the run's answer memory
  has room, else in an anonymous temporary file;
- methods: GET, and POST only to the 4.0 login path (``allowed``); no redirect is followed, nothing is
  decompressed, no cookie is kept, proxies only as configured (``proxy:``, or HTTPS_PROXY / HTTP_PROXY /
  NO_PROXY: ``transport_settings`` reads them, and gives each ``verify_tls`` value's TLS context).

The protocol guards live in ``strict_http``; ``request_failures.failure_of`` is the one map from what a
request raised to the ``error.type`` users see.
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import BinaryIO
from urllib.parse import urlencode, urlsplit

import aiohttp
from multidict import CIMultiDictProxy
from yarl import URL

from . import __version__, errors, redact
from .budget import AnswerBudget
from .node_config import NodeConfig
from .strict_http import DaemonResolver, StrictConnector, StrictResponseHandler, allowed
from .transport_settings import Proxy, proxy_for, tls_context

__all__ = [
    "CHUNK_BYTES",
    "KEEPALIVE_S",
    "RESOLVER_THREADS",
    "USER_AGENT",
    "Answer",
    "NodeClient",
    "Proxy",
    "proxy_for",
    "tls_context",
]

log = logging.getLogger(__name__)

USER_AGENT = f"exalate-collector/{__version__}"
CHUNK_BYTES = 256 * 1024
#: Host-name lookups at once in a run (each on a daemon thread of its own: a stuck one is left behind).
RESOLVER_THREADS = 4
#: How long an idle keep-alive connection is kept within a poll.
KEEPALIVE_S = 15.0


@dataclass
class Answer:
    """A complete answer: status, headers and the body (in memory, or in ``body_file``)."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes = b""
    body_file: BinaryIO | None = None
    reused: bool = False


class NodeClient:
    """One node's connections for one poll: at most ``concurrency`` keep-alive connections, made at the
    first request and closed by ``close``. Every request ends by ``until`` (a ``monotonic`` instant)."""

    def __init__(
        self,
        node: NodeConfig,
        resolver_slots: asyncio.Semaphore,
        memory: AnswerBudget | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.node = node
        self._slots = resolver_slots
        self._memory = memory
        self._monotonic = monotonic
        parts = urlsplit(node.base_url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        # the port always given: an IPv6 literal's last group must never be read as one
        self.origin = f"{parts.scheme}://{f'[{host}]' if ':' in host else host}:{port}"
        self._https = parts.scheme == "https"
        self.proxy: Proxy | None = None
        #: Set when the proxy setting is unusable: every request of the node fails with it, nothing is sent.
        self.unusable: errors.PollFailure | None = None
        try:
            self.proxy = proxy_for(node)
        except errors.PollFailure as failure:
            self.unusable = failure
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = StrictConnector(
                limit=self.node.concurrency,
                ssl=tls_context(self.node.verify_tls) if self._https else False,
                resolver=DaemonResolver(self._slots),
                keepalive_timeout=KEEPALIVE_S,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                trust_env=False,  # proxies from proxy_for: aiohttp's own look-up runs on a thread
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),  # every request has its own asyncio.timeout
                skip_auto_headers=("Accept-Encoding",),
            )
            if self.proxy is not None:
                log.debug(
                    "node %s: through proxy %s", self.node.name, self.proxy.url, extra={"exalate.node": self.node.name}
                )
        return self._session

    async def send(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        headers: Mapping[str, str],
        until: float,
        *,
        body: bytes | None = None,
        on_head: Callable[[Answer], None] | None = None,
        max_bytes: int | None = None,
    ) -> Answer:
        """One request and its whole answer. ``path`` is the full request path (context path included),
        already percent-encoded. ``on_head`` sees status and headers before the body is read (it may
        raise). Raises ``TimeoutError`` when ``until`` passed, a ``PollFailure`` of ours, or what aiohttp
        raised (``failure_of`` names it)."""
        allowed(method, path, query)
        if self.unusable is not None:
            raise errors.ConnectionFailed(self.unusable.detail)
        left = until - self._monotonic()
        if left <= 0:
            raise TimeoutError
        target = self.origin + path + ("?" + urlencode(query) if query else "")
        started = self._monotonic()
        answer: Answer | None = None
        try:
            async with asyncio.timeout(left):
                async with self._open().request(
                    method,
                    URL(target, encoded=True),
                    headers={"Accept-Encoding": "identity", **headers},
                    data=body,
                    allow_redirects=False,
                    proxy=self.proxy.url if self.proxy else None,
                    proxy_headers=self.proxy.headers if self.proxy else None,
                ) as response:
                    try:
                        answer = Answer(response.status, response.headers)
                        protocol = response.connection.protocol if response.connection else None
                        answer.reused = isinstance(protocol, StrictResponseHandler) and protocol.reused
                        if on_head is not None:
                            on_head(answer)
                        answer.body, answer.body_file = await self._read_body(
                            response, max_bytes or self.node.max_body_bytes
                        )
                    except BaseException:
                        response.close()
                        raise
        except BaseException as exc:
            log.debug(
                "request node=%s %s %s query=%s failed after ms=%.1f: %s",
                self.node.name,
                method,
                redact.redact(path),
                ",".join(query) or "-",
                (self._monotonic() - started) * 1000,
                type(exc).__name__,  # the class only: str(exc) may quote a URL or the node's bytes
                extra={"exalate.node": self.node.name},
            )
            raise
        if log.isEnabledFor(logging.DEBUG):
            size = len(answer.body) if answer.body_file is None else answer.body_file.tell()
            log.debug(
                "request node=%s %s %s query=%s status=%d bytes=%d ms=%.1f connection=%s",
                self.node.name,
                method,
                redact.redact(path),
                ",".join(query) or "-",  # the names only: a token may be a value
                answer.status,
                size,
                (self._monotonic() - started) * 1000,
                "reused" if answer.reused else "new",
                extra={"exalate.node": self.node.name, "http.response.status_code": answer.status},
            )
        return answer

    async def _read_body(self, response: aiohttp.ClientResponse, limit: int) -> tuple[bytes, BinaryIO | None]:
        """The whole body, at most ``limit`` bytes: in memory while the run's answer memory has room for
        it, else in an anonymous temporary file (the body then is b'')."""
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise errors.TooLarge(f"Content-Length {declared} exceeds max_body_bytes {limit}", response.status)
        memory = self._memory
        chunks: list[bytes] = []
        size = reserved = 0
        spill: BinaryIO | None = None
        if memory is not None and declared.isdigit():
            if memory.reserve(int(declared)):
                reserved = int(declared)
            else:
                spill = _spill_file(memory)
        try:
            while chunk := await response.content.read(CHUNK_BYTES):
                size += len(chunk)
                if size > limit:
                    raise errors.TooLarge(f"body exceeds max_body_bytes {limit}", response.status)
                if spill is None and memory is not None and size > reserved:
                    if memory.reserve(size - reserved):
                        reserved = size
                    else:  # over the budget: this answer goes to disk, with what it had so far
                        spill = _spill_file(memory)
                        spill.writelines(chunks)
                        chunks.clear()
                        memory.release(reserved)
                        reserved = 0
                if spill is not None:
                    spill.write(chunk)
                else:
                    chunks.append(chunk)
        except BaseException:
            if memory is not None:
                memory.release(reserved)
            if spill is not None:
                spill.close()
            raise
        if memory is not None and reserved > size:
            memory.release(reserved - size)  # a Content-Length larger than the body (cut short)
        if spill is not None:
            spill.flush()
            return b"", spill
        return b"".join(chunks), None

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            connector = session.connector
            await session.close()
            if isinstance(connector, StrictConnector):
                connector.abort_all()
                for _ in range(2):  # the aborted sockets close in callbacks of the loop
                    await asyncio.sleep(0)


def _spill_file(memory: AnswerBudget) -> BinaryIO:
    memory.count_spill()
    return tempfile.TemporaryFile(prefix="exalate-answer-")  # unlinked at once: gone when closed
