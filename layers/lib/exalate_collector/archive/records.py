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
from collections.abc import Iterable, Sequence
from datetime import datetime
from json.encoder import encode_basestring  # type: ignore[attr-defined]
from typing import Any, Final

from .. import __version__
from ..keys import key_prefix, node_segment
from ..model import Exchange
from ..redact import scrub, scrub_bytes

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
    raw = scrub_bytes(ex.body)
    if is_utf8(raw):
        return _record(run_id, ex, raw, raw.decode("utf-8"), is_base64=False)
    return _record(run_id, ex, raw, base64.b64encode(raw).decode("ascii"), is_base64=True)


def _record(run_id: str, ex: Exchange, raw: bytes, body: str, *, is_base64: bool) -> dict[str, Any]:
    """``raw`` is the body as stored: byte for byte, except a credential of the collector's own that the
    node echoed, replaced by ``<secret>`` (size and SHA-256 are of what is stored)."""
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
        "body_bytes": len(raw),
        "body_sha256": hashlib.sha256(raw).hexdigest(),
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


class JsonlGzWriter:
    """Makes the same bytes as ``encode_jsonl_gz([record_of(...), ...])`` without holding a body more
    than once: the body is decoded, JSON-escaped, encoded and compressed slice by slice.

    A 20 MB answer would otherwise exist five times at once (bytes, text, escaped text, encoded line,
    joined lines) on its way into the archive.
    """

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._gzip = _gzip_writer(self._buffer)
        self.records = 0

    def add(self, run_id: str, ex: Exchange) -> None:
        body = scrub_bytes(ex.body)  # the same object unless it holds one of our credentials
        utf8 = is_utf8(body)
        line = _line(_record(run_id, ex, body, _PLACEHOLDER, is_base64=not utf8))
        head, tail = line.split(_PLACEHOLDER_JSON, 1)
        self._gzip.write(head + b'"')
        if utf8:
            decoder = codecs.getincrementaldecoder("utf-8")()
            for start in range(0, len(body), SLICE):
                text = decoder.decode(body[start : start + SLICE], final=False)
                self._gzip.write(encode_basestring(text)[1:-1].encode("utf-8"))
        else:
            for start in range(0, len(body), SLICE):  # SLICE is a multiple of 3: no padding mid-way
                self._gzip.write(base64.b64encode(body[start : start + SLICE]))
        self._gzip.write(b'"' + tail)
        self.records += 1

    def finish(self) -> bytes:
        self._gzip.close()
        return self._buffer.getvalue()


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
