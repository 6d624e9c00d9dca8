"""Pure: exchanges -> archive records -> gzip JSON Lines, and the archive's key layout.

A record keeps the body exactly as received: as text when it decodes as UTF-8, otherwise base64 with
``body_base64: true``. Bodies are never parsed or reformatted on the way.
"""

from __future__ import annotations

import base64
import codecs
import gzip
import hashlib
import io
import json
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import IO, Any, Final

from .. import __version__
from ..keys import key_prefix, node_segment
from ..model import Exchange
from ..redact import scrub, scrub_bytes, scrub_chunks

#: The record schema, in order. docs/archive.md and the Athena DDL are tested against it.
RECORD_FIELDS: Final = (
    "run_id",
    "node",
    "relation",
    "endpoint",
    "url",
    "requested_at",
    "elapsed_s",
    "status_code",
    "content_type",
    "content_length",
    "date",
    "body",
    "body_base64",
    "body_bytes",
    "body_sha256",
    "error_type",
    "collector_version",
)


def is_utf8(data: bytes) -> bool:
    """Whether ``data`` decodes as UTF-8, checked slice by slice (no full-size copy)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), SLICE):
            decoder.decode(data[start : start + SLICE], final=False)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def record_of(run_id: str, ex: Exchange) -> dict[str, Any]:
    """One exchange as an archive record (failed polls too: their body is the evidence)."""
    raw = scrub_bytes(b"".join(ex.body_chunks(SLICE)))
    size, digest = len(raw), hashlib.sha256(raw).hexdigest()
    if is_utf8(raw):
        return _record(run_id, ex, raw.decode("utf-8"), is_base64=False, size=size, sha256=digest)
    return _record(run_id, ex, base64.b64encode(raw).decode("ascii"), is_base64=True, size=size, sha256=digest)


def _record(run_id: str, ex: Exchange, body: str, *, is_base64: bool, size: int, sha256: str) -> dict[str, Any]:
    """``size`` and ``sha256`` are of the body as stored: byte for byte, except a credential of the
    collector's own that the node echoed, replaced by ``<secret>``."""
    return {
        "run_id": run_id,
        "node": ex.node,
        "relation": ex.relation,
        "endpoint": ex.endpoint,
        "url": scrub(ex.url),
        "requested_at": ex.started_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "elapsed_s": round(ex.elapsed_s, 6),
        "status_code": ex.status_code,
        "content_type": ex.content_type,
        "content_length": ex.content_length,
        "date": ex.date,
        "body": body,
        "body_base64": is_base64,
        "body_bytes": size,
        "body_sha256": sha256,
        "error_type": ex.failure.error_type if ex.failure else None,
        "collector_version": __version__,
    }


def body_of(record: dict[str, Any]) -> bytes:
    """The original body bytes of a record."""
    if record["body_base64"]:
        return base64.b64decode(record["body"])
    return str(record["body"]).encode("utf-8")


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":")).encode("utf-8") + b"\n"


def encode_jsonl_gz(records: Iterable[dict[str, Any]]) -> bytes:
    """Deterministic gzip JSON Lines (mtime 0): the same records always give the same bytes."""
    buffer = io.BytesIO()
    with _gzip_writer(buffer) as archive:
        for record in records:
            archive.write(_line(record))
    return buffer.getvalue()


def _gzip_writer(buffer: io.BytesIO) -> gzip.GzipFile:
    """The one gzip framing used everywhere (mtime 0, level 6), so equal records give equal bytes."""
    return gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=6, mtime=0)


#: Bytes per slice when streaming a body: a multiple of 3 (base64) and large enough to be fast.
SLICE = 3 * 1024 * 1024
_PLACEHOLDER = "\x00body\x00"
_PLACEHOLDER_JSON = json.dumps(_PLACEHOLDER).encode("ascii")


class Payload:
    """A node's gzip JSON Lines, with its size and SHA-256: in memory, or in an anonymous temporary file
    once larger than the spool size, so a run with large answers never holds its archive in memory."""

    def __init__(self, file: IO[bytes], size: int, sha256: str) -> None:
        self._file, self.size, self.sha256 = file, size, sha256

    @classmethod
    def of(cls, data: bytes) -> Payload:
        return cls(io.BytesIO(data), len(data), hashlib.sha256(data).hexdigest())

    def stream(self) -> IO[bytes]:
        """The payload from its first byte (an upload reads it from here, and may seek)."""
        self._file.seek(0)
        return self._file

    def read(self) -> bytes:
        return self.stream().read()

    def close(self) -> None:
        self._file.close()


def as_payload(data: bytes | Payload) -> Payload:
    return data if isinstance(data, Payload) else Payload.of(data)


class _Digesting(io.RawIOBase):
    """What gzip writes goes to the spool, counted and hashed on the way."""

    def __init__(self, spool: IO[bytes]) -> None:
        self.spool, self.size, self.hash = spool, 0, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.hash.update(data)
        self.size += len(data)
        self.spool.write(data)
        return len(data)


#: A node's archive payload stays in memory up to this size, then goes to a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024


class JsonlGzWriter:
    """Makes the same bytes as ``encode_jsonl_gz([record_of(...), ...])`` without holding a body more
    than once: the body is read (from memory or its temporary file), scrubbed, decoded, JSON-escaped,
    encoded and compressed slice by slice, into a payload that spills to disk past ``spool_bytes``.

    A 20 MB answer would otherwise exist five times at once (bytes, text, escaped text, encoded line,
    joined lines) on its way into the archive.
    """

    def __init__(self, spool_bytes: int = SPOOL_BYTES) -> None:
        self._spool: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - the Payload closes it
            max_size=spool_bytes, prefix="exalate-archive-"
        )
        self._sink = _Digesting(self._spool)
        self._gzip = gzip.GzipFile(fileobj=self._sink, mode="wb", compresslevel=6, mtime=0)  # as _gzip_writer
        self.records = 0

    def add(self, run_id: str, ex: Exchange) -> None:
        size, digest, utf8 = _measure(ex)
        line = _line(_record(run_id, ex, _PLACEHOLDER, is_base64=not utf8, size=size, sha256=digest))
        head, tail = line.split(_PLACEHOLDER_JSON, 1)
        self._gzip.write(head + b'"')
        slices = scrub_chunks(ex.body_chunks(SLICE))
        if utf8:
            decoder = codecs.getincrementaldecoder("utf-8")()
            for piece in slices:
                self._gzip.write(encode_basestring(decoder.decode(piece))[1:-1].encode("utf-8"))
        else:
            rest = b""
            for piece in slices:  # base64 in groups of 3 bytes: no padding mid-way
                data = rest + piece
                cut = len(data) - len(data) % 3
                self._gzip.write(base64.b64encode(data[:cut]))
                rest = data[cut:]
            self._gzip.write(base64.b64encode(rest))
        self._gzip.write(b'"' + tail)
        self.records += 1

    def finish(self) -> Payload:
        self._gzip.close()
        return Payload(self._spool, self._sink.size, self._sink.hash.hexdigest())


def _measure(ex: Exchange) -> tuple[int, str, bool]:
    """Size, SHA-256 and UTF-8 validity of the body as it will be stored (scrubbed), in one pass."""
    size, digest = 0, hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")()
    utf8 = True
    for piece in scrub_chunks(ex.body_chunks(SLICE)):
        size += len(piece)
        digest.update(piece)
        if utf8:
            try:
                decoder.decode(piece)
            except UnicodeDecodeError:
                utf8 = False
    if utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            utf8 = False
    return size, digest.hexdigest(), utf8


def decode_jsonl_gz(payload: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in gzip.decompress(payload).splitlines() if line]


def archive_key(prefix: str, started_at: datetime, node: str, run_id: str) -> str:
    """``PREFIX/dt=YYYY-MM-DD/hour=HH/node=NAME/<run id>.jsonl.gz`` (UTC)."""
    return (
        f"{key_prefix(prefix)}dt={started_at:%Y-%m-%d}/hour={started_at:%H}/node={node_segment(node)}/{run_id}.jsonl.gz"
    )


def staging_key(prefix: str, run_id: str, node: str) -> str:
    return f"{key_prefix(prefix)}{run_id}/{node_segment(node)}.jsonl.gz"


def object_metadata(run_id: str, records: int) -> dict[str, str]:
    """S3 metadata of a staging or archive object (the archiver adds content-sha256)."""
    return {"run-id": run_id, "record-count": str(records), "collector-version": __version__}


def by_node(exchanges: Sequence[Exchange]) -> dict[str, list[Exchange]]:
    """Exchanges grouped per node, configuration order kept."""
    groups: dict[str, list[Exchange]] = {}
    for ex in exchanges:
        groups.setdefault(ex.node, []).append(ex)
    return groups
