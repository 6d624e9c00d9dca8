"""Every request to an Exalate node, on asyncio + aiohttp: one ``NodeClient`` per node and poll.

What a hostile node can do is bounded here, in one place:

- time: a request (DNS, connect, proxy CONNECT, TLS, status line, headers and the whole body) ends by a
  wall-clock instant, ``asyncio.timeout``: a node dripping a byte a second, keep-alive or not, is cut;
- framing: aiohttp's llhttp parser refuses malformed, negative or huge chunk sizes, duplicate or
  conflicting Content-Length, Content-Length beside Transfer-Encoding and bad status lines. What it lets
  through for answers (obs-fold, header names that are not tokens, control characters in values) and any
  byte sent outside an answer (before the request went out, after its answer, on an idle keep-alive
  connection) are refused by ``StrictResponseHandler``: ``InvalidResponse``, never a read to EOF;
- size: the body is read in chunks, at most ``max_body_bytes``, in memory while the run's answer memory
  has room, else in an anonymous temporary file;
- methods: GET, and POST only to the 4.0 login path (``allowed``); no redirect is followed, nothing is
  decompressed, no cookie is kept, proxies only as configured (``proxy:``, or HTTPS_PROXY / HTTP_PROXY /
  NO_PROXY).

``failure_of`` is the one map from what a request raised to the ``error.type`` users see.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import errno
import functools
import logging
import os
import re
import socket
import ssl
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import unquote, urlencode, urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError
from multidict import CIMultiDictProxy
from yarl import URL

from . import __version__, errors, redact
from .budget import MemoryBudget
from .config import NodeConfig
from .endpoints import LOGIN_PATH

log = logging.getLogger(__name__)

USER_AGENT = f"exalate-collector/{__version__}"
CHUNK_BYTES = 256 * 1024
#: Host-name lookups at once in a run (each on a daemon thread of its own: a stuck one is left behind).
RESOLVER_THREADS = 4
#: How long an idle keep-alive connection is kept within a poll.
KEEPALIVE_S = 15.0

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")
_FOLD = re.compile(rb"\n[ \t]")


class FramingError(aiohttp.ClientError):
    """The node's bytes are not one valid HTTP/1.1 answer to our request (``InvalidResponse``)."""


def allowed(method: str, path: str, query: Mapping[str, str]) -> None:
    """GET anywhere; POST only to the login path, without a query. Anything else is a bug: refused."""
    if not (method == "GET" or (method == "POST" and path.endswith(LOGIN_PATH) and not query)):
        raise ValueError(f"exalate-collector sends only GET and the configured login POST, refused {method}")


class StrictResponseHandler(ResponseHandler):
    """aiohttp's protocol, refusing what its lenient answer parser lets through (see the module text).

    It relies on ``ResponseHandler``'s hooks (``set_response_params``, ``data_received``, ``feed_data``,
    ``read``), which the pinned aiohttp range keeps; tests/integration/test_framing.py proves each case."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self._expecting = False  # a request is out and its answer is not complete
        self._answers = 0
        self._in_head = False
        self._carry = b""
        self.refused: FramingError | None = None
        self._surplus = False
        self.reused = False

    def set_response_params(self, **kwargs: Any) -> None:
        if self._answers:
            self.reused = True
        if self._tail or self._buffer:
            self._tail = b""  # never parsed as this request's answer
            self._refuse("the node sent bytes before the request went out")
        self._expecting, self._answers, self._in_head, self._carry = True, 0, True, b""
        super().set_response_params(**kwargs)

    def data_received(self, data: bytes) -> None:
        if not data or self.refused is not None or self._surplus:
            return  # nothing more of this connection is parsed
        if not self._expecting and self._parser is not None:
            self._drop("bytes after the answer was complete")  # never taken for the next request's answer
            return
        if self._in_head:
            self._scan_head(data)
            if self.refused is not None:
                return
        super().data_received(data)

    def feed_data(self, data: Any, size: int = 0) -> None:  # one parsed answer: (message, payload)
        self._answers += 1
        if self._answers > 1 or not self._expecting:
            self._drop("a second answer to one request")  # the first, complete, stands
            return
        message, payload = data
        if not _valid_headers(message.raw_headers):
            self._refuse("a header name is not a token or a header value holds a control character")
            return
        if payload.is_eof():
            self._expecting = False
        else:
            payload.on_eof(self._answer_complete)
        super().feed_data(data, size)

    async def read(self) -> Any:
        if self.refused is not None:
            raise self.refused
        return await super().read()

    def _answer_complete(self) -> None:
        self._expecting = False

    def _scan_head(self, data: bytes) -> None:
        chunk = self._carry + data
        ends = [i + n for i, n in ((chunk.find(b"\r\n\r\n"), 4), (chunk.find(b"\n\n"), 2)) if i >= 0]
        head = chunk[: min(ends)] if ends else chunk
        if _FOLD.search(head):
            self._refuse("a header is folded over lines (obs-fold)")
        if ends:
            self._in_head = False
        else:
            self._carry = chunk[-3:]

    def _refuse(self, why: str) -> None:
        """This request's answer is not valid: it fails as ``InvalidResponse``; the connection goes."""
        self.refused = FramingError(why)
        self._should_close = True
        self.set_exception(self.refused)

    def _drop(self, why: str) -> None:
        """Bytes outside any answer: the connection is never used again; an answer already complete stands."""
        self._surplus = True
        self._should_close = True
        log.debug("a node connection dropped: %s", why)
        if not self._expecting and self.transport is not None:
            self.transport.close()  # idle (or done): the pool must not hand it out again


def _valid_headers(raw: tuple[tuple[bytes, bytes], ...]) -> bool:
    return all(_TOKEN.match(name) and not _CONTROL.search(value) for name, value in raw)


class StrictConnector(aiohttp.TCPConnector):
    """A ``TCPConnector`` whose connections speak through ``StrictResponseHandler``."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._factory = functools.partial(StrictResponseHandler, loop=self._loop)  # type: ignore[assignment]


class DaemonResolver(AbstractResolver):
    """``getaddrinfo`` on a daemon thread per lookup, at most ``RESOLVER_THREADS`` at once per run.

    A lookup cannot be interrupted: one still running when its request's time is up is left behind,
    and ends with the process, never holding it (no executor to join)."""

    def __init__(self, slots: asyncio.Semaphore) -> None:
        self._slots = slots

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        async with self._slots:
            loop = asyncio.get_running_loop()
            future: asyncio.Future[list[Any]] = loop.create_future()

            def settle(outcome: list[Any] | BaseException) -> None:
                if not future.done():
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)

            def lookup() -> None:
                outcome: list[Any] | BaseException
                try:
                    outcome = socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, socket.AI_ADDRCONFIG)
                except OSError as exc:
                    outcome = exc
                with contextlib.suppress(RuntimeError):  # the run is over (its loop closed): nobody waits
                    loop.call_soon_threadsafe(settle, outcome)

            threading.Thread(target=lookup, name="exalate-dns", daemon=True).start()
            infos = await future
        return [
            ResolveResult(
                hostname=host,
                host=address[0],
                port=address[1],
                family=fam,
                proto=proto,
                flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV,
            )
            for fam, _, proto, _, address in infos
            if fam in (socket.AF_INET, socket.AF_INET6)
        ]

    async def close(self) -> None:
        return None


_tls_contexts: dict[object, ssl.SSLContext] = {}
_tls_lock = threading.Lock()


def tls_context(verify: bool | str) -> ssl.SSLContext:
    """One SSLContext per ``verify_tls`` value per process (loading a CA bundle is slow). ``True``:
    certifi's bundle; a path: that bundle (reloaded when the file changes); ``False``: no verification."""
    key: object = verify
    if isinstance(verify, str):
        try:
            key = (verify, os.stat(verify).st_mtime_ns)
        except OSError:
            key = (verify, None)
    with _tls_lock:
        context = _tls_contexts.get(key)
        if context is None:
            if verify is False:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            else:
                context = ssl.create_default_context(cafile=verify if isinstance(verify, str) else _certifi())
            _tls_contexts[key] = context
        return context


def _certifi() -> str | None:
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with requests
        return None
    return str(certifi.where())


@dataclass(frozen=True)
class Proxy:
    """Where a node's requests go through: the proxy URL without credentials, and its header."""

    url: str
    headers: Mapping[str, str]

    def __repr__(self) -> str:  # the header holds the proxy password
        return f"Proxy({self.url!r})"


#: (the poll's event loop, its environment proxies): one entry, replaced by the next poll.
_proxies_of_loop: list[tuple[asyncio.AbstractEventLoop, dict[str, str]]] = []


def _environment_proxies() -> dict[str, str]:
    """urllib's reading of HTTPS_PROXY / HTTP_PROXY / NO_PROXY, once per poll (its event loop): reading
    the environment costs ~0.3 ms, 3 s of CPU for 10,000 nodes read one by one (bench section 8)."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return urllib.request.getproxies_environment()
    if not _proxies_of_loop or _proxies_of_loop[0][0] is not loop:
        _proxies_of_loop[:] = [(loop, urllib.request.getproxies_environment())]
    return _proxies_of_loop[0][1]


def proxy_for(node: NodeConfig, env: Mapping[str, str] | None = None) -> Proxy | None:
    """The node's ``proxy:`` (``none``: direct), else HTTPS_PROXY / HTTP_PROXY for its scheme unless
    NO_PROXY names its host."""
    url = node.proxy
    if url == "none":
        return None
    if url is None:
        proxies = (
            _environment_proxies()
            if env is None
            else {k.lower()[: -len("_proxy")]: v for k, v in env.items() if k.lower().endswith("_proxy") and v}
        )
        parts = urlsplit(node.base_url)
        bypass = getattr(urllib.request, "proxy_bypass_environment")  # noqa: B009 - not in typeshed
        if "no" in proxies and bypass(parts.hostname or "", proxies):
            return None
        url = proxies.get(parts.scheme)
    if not url:
        return None
    parts = urlsplit(url if "://" in url else "http://" + url)
    headers: dict[str, str] = {}
    if parts.username is not None or parts.password is not None:
        user, password = unquote(parts.username or ""), unquote(parts.password or "")
        redact.remember_basic(user, password)
        headers["Proxy-Authorization"] = "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    host = f"[{parts.hostname}]" if parts.hostname and ":" in parts.hostname else parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return Proxy(f"{parts.scheme}://{netloc}", headers)


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
        memory: MemoryBudget | None = None,
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
        self.proxy = proxy_for(node)
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
        left = until - self._monotonic()
        if left <= 0:
            raise TimeoutError
        target = self.origin + path + ("?" + urlencode(query) if query else "")
        started = self._monotonic()
        answer: Answer | None = None
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
            await session.close()


def _spill_file(memory: MemoryBudget) -> BinaryIO:
    memory.count_spill()
    return tempfile.TemporaryFile(prefix="exalate-answer-")  # unlinked at once: gone when closed


def failure_of(exc: BaseException, node: NodeConfig, *, deadline_binds: bool, status: int | None) -> errors.PollFailure:
    """What a request raised, as the failure users see. ``str(exc)`` is never used: it could hold a URL
    or bytes the node wrote; only aiohttp's own first line of a parser error is kept."""
    if isinstance(exc, errors.PollFailure):
        return exc
    if isinstance(exc, TimeoutError):
        what = "body not complete" if status is not None else "no status line and headers"
        if deadline_binds:
            return errors.DeadlineExceeded(f"{what} before the run's deadline", status)
        return errors.Timeout(f"{what} within timeout_s {node.timeout_s:g}", status)
    where = address(node.base_url)
    if isinstance(exc, FramingError):
        return errors.InvalidResponse(f"{exc.args[0]} ({where})", status)
    if isinstance(exc, aiohttp.ClientHttpProxyError):
        return errors.ConnectionFailed(f"the proxy refused the connection to {where} (HTTP {exc.status})")
    if isinstance(exc, aiohttp.ClientProxyConnectionError):
        return errors.ConnectionFailed(f"the proxy for {where} could not be reached: {_root_cause(exc)}")
    if isinstance(exc, aiohttp.ClientResponseError):  # never raise_for_status: the answer's head did not parse
        return errors.InvalidResponse(f"the answer is not valid HTTP/1.1: {_parser_words(exc.message)}", status)
    if isinstance(exc, aiohttp.ClientPayloadError):
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, HttpProcessingError) and "not enough data" not in str(cause.message).lower():
            return errors.InvalidResponse(
                f"the body is not valid HTTP/1.1 framing: {_parser_words(cause.message)}", status
            )
        return errors.ConnectionFailed(f"the connection to {where} broke before the answer was complete", status)
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | aiohttp.ClientSSLError | ssl.SSLError):
        return errors.TlsError(f"TLS with {where} failed: {_root_cause(exc)}; check verify_tls")
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return errors.ConnectionFailed(f"connection to {where} failed: the host name could not be resolved")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return errors.ConnectionFailed(f"{where} closed the connection before the answer was complete", status)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return errors.ConnectionFailed(
            f"connection to {where} failed: {_root_cause(exc)}; is the node up, and is base_url right?"
        )
    if isinstance(exc, aiohttp.ClientError | OSError):
        return errors.ConnectionFailed(f"the connection to {where} broke: {_root_cause(exc)}", status)
    return errors.InternalError(f"the request failed with {type(exc).__name__} (a bug)")


def _parser_words(message: object) -> str:
    """aiohttp's own words for a parser error: its first line, never the node's bytes it quotes after."""
    first = str(message).splitlines()[0] if str(message) else "unparsable"
    return printable(first.split(": b'", 1)[0].split(':b"', 1)[0].rstrip(": ")[:120])


def printable(text: str) -> str:
    """``text`` with every control character escaped (``\\x1b``): node-written text in a log line or on a
    console can neither forge a line nor drive the terminal."""
    return text if text.isprintable() else "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def address(url: str) -> str:
    """``https://jira.example.com/jira`` -> ``jira.example.com:443``: where a connection goes."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _root_cause(exc: BaseException) -> str:
    """A safe description of the innermost cause: an errno text or a class name, never a URL."""
    seen: set[int] = set()
    current: BaseException | None = exc
    best = type(exc).__name__
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        code = getattr(current, "errno", None)
        if isinstance(code, int) and code in errno.errorcode:
            return os.strerror(code).lower()
        name = type(current).__name__
        if name in ("NameResolutionError", "gaierror", "ClientConnectorDNSError"):
            return "the host name could not be resolved"
        if name in ("SSLCertVerificationError", "ClientConnectorCertificateError"):
            return "certificate verification failed"
        best = name
        nested = [a for a in getattr(current, "args", ()) if isinstance(a, BaseException)]
        inner = getattr(current, "os_error", None) or getattr(current, "certificate_error", None)
        current = current.__cause__ or current.__context__ or (inner if isinstance(inner, BaseException) else None)
        current = current or (nested[0] if nested else None)
    return best
