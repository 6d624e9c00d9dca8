"""The I/O edge of the state: one small JSON object per node, updated with conditional writes.

S3: ``If-Match: <ETag>`` on update, ``If-None-Match: *`` on creation. Local file: the same contract
under an exclusive lock, comparing a digest of the file. When two runs overlap, one write wins and the
other gets a conflict: it re-reads, recomputes from the winner's state and writes again.

Every load and save takes the ``Deadline`` of its run's phase: the S3 store asks its client source for a
client bounded by it (aws.py); a local file is not bounded (a local disk answers or fails).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..aws import ClientSource, error_code
from ..deadline import Deadline
from ..errors import StateCorrupt, StateFailure, StateReadFailed, StateWriteFailed
from ..keys import key_prefix, node_segment
from ..settings import Settings
from .model import validate

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Loaded:
    """What a load found. ``state`` None: nothing usable (missing, or see ``failure``)."""

    state: dict[str, Any] | None
    token: str | None  # ETag or digest of what is stored now; None when nothing is stored
    failure: StateFailure | None = None


class StateStore(Protocol):
    """Each operation ends by its ``deadline``."""

    def load(self, node: str, deadline: Deadline) -> Loaded: ...

    def save(self, node: str, state: dict[str, Any], token: str | None, deadline: Deadline) -> bool:
        """Write if what is stored still matches ``token``. False on a conflict; raises StateWriteFailed."""
        ...

    def load_series(self, instance: str, deadline: Deadline) -> Loaded:
        """The deployment's series document (telemetry/series_document.py), as JSON, not yet checked."""
        ...

    def save_series(self, instance: str, body: bytes, token: str | None, deadline: Deadline) -> bool:
        """``body``: the series document already encoded (``series.encode_document``); written like ``save``."""
        ...


#: Series documents live under this sub-directory / key segment; node names are percent-encoded and
#: never contain a slash, so they cannot collide.
SERIES_DIR = "series"


def series_segment(instance: str) -> str:
    """A ``service.instance.id`` as a file name: percent-encoded, shortened with a digest when long."""
    segment = node_segment(instance)
    if len(segment) > 160:
        segment = f"{segment[:120]}-{hashlib.sha256(instance.encode()).hexdigest()[:16]}"
    return segment


def _encode(state: dict[str, Any]) -> bytes:
    return json.dumps(state, separators=(",", ":"), sort_keys=True).encode("utf-8")


#: Bounds of a state object as read: far above any real one (a few KB per relation), far below harm.
MAX_STATE_BYTES = 16 * 1024 * 1024
#: A deployment's series document holds every series it exports (about 110 bytes each: 5,000 relations
#: are 155,000 series, 17 MB): bounded for 10 times that, still far below harm.
MAX_SERIES_BYTES = 192 * 1024 * 1024
MAX_INT_DIGITS = 20  # an epoch in ms, an item id: never more


READ_CHUNK = 1 << 20


def read_at_most(read: Callable[[int], bytes], limit: int) -> bytes:
    """At most ``limit + 1`` bytes (more is corrupt: never read it all), a chunk at a time: ``read(limit + 1)``
    itself would allocate the whole bound first (a file's and http.client's ``read(n)`` do), 192 MB for
    a series document of a few."""
    parts: list[bytes] = []
    total = 0
    while total <= limit:
        part = read(min(READ_CHUNK, limit + 1 - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return parts[0] if len(parts) == 1 else b"".join(parts)


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError("integer too long")
    return int(text)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a number the state can hold")


def _decode(node: str, data: bytes) -> dict[str, Any]:
    """Bytes as stored -> a validated state. Anything else (too large, too deep, huge numbers, NaN,
    not JSON, not the schema) is StateCorrupt, never another exception."""
    if len(data) > MAX_STATE_BYTES:
        raise StateCorrupt(f"state of node {node}: larger than {MAX_STATE_BYTES} bytes")
    try:
        raw = json.loads(data, parse_int=_bounded_int, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise StateCorrupt(f"state of node {node}: not valid JSON") from None
    except RecursionError:
        raise StateCorrupt(f"state of node {node}: nested too deeply") from None
    return validate(raw, node)


def _loaded(node: str, data: bytes, token: str) -> Loaded:
    try:
        return Loaded(_decode(node, data), token)
    except StateCorrupt as failure:
        return Loaded(None, token, failure)


def _series_loaded(instance: str, read: Loaded, data: bytes | None) -> Loaded:
    """The series document as JSON (telemetry/series_document.py checks its shape), within the same bounds."""
    if data is None:
        return read
    problem = f"larger than {MAX_SERIES_BYTES} bytes" if len(data) > MAX_SERIES_BYTES else None
    try:
        if problem is None:
            return Loaded(json.loads(data, parse_int=_bounded_int, parse_constant=_no_constant), read.token)
    except (ValueError, UnicodeDecodeError):
        problem = "not valid JSON"
    except RecursionError:
        problem = "nested too deeply"
    return Loaded(None, read.token, StateCorrupt(f"series state of {instance}: {problem}"))


class S3StateStore:
    """``s3``: a client per operation, bounded by the operation's deadline (``aws.LazyClient("s3")``)."""

    def __init__(self, s3: ClientSource, bucket: str, prefix: str = "state/") -> None:
        self.s3, self.bucket, self.prefix = s3, bucket, key_prefix(prefix)

    def key(self, node: str) -> str:
        return f"{self.prefix}{node_segment(node)}.json"

    def series_key(self, instance: str) -> str:
        return f"{self.prefix}{SERIES_DIR}/{series_segment(instance)}.json"

    def load(self, node: str, deadline: Deadline) -> Loaded:
        read, data = self._get(self.key(node), deadline)
        return read if data is None else _loaded(node, data, read.token or "")

    def save(self, node: str, state: dict[str, Any], token: str | None, deadline: Deadline) -> bool:
        return self._put(self.key(node), _encode(state), token, deadline)

    def load_series(self, instance: str, deadline: Deadline) -> Loaded:
        return _series_loaded(instance, *self._get(self.series_key(instance), deadline, MAX_SERIES_BYTES))

    def save_series(self, instance: str, body: bytes, token: str | None, deadline: Deadline) -> bool:
        return self._put(self.series_key(instance), body, token, deadline)

    def _get(self, key: str, deadline: Deadline, limit: int = MAX_STATE_BYTES) -> tuple[Loaded, bytes | None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.s3(deadline).get_object(Bucket=self.bucket, Key=key)
            data = read_at_most(answer["Body"].read, limit)
        except ClientError as exc:
            if error_code(exc) in ("NoSuchKey", "404") or (
                error_code(exc) in ("AccessDenied", "403") and self._absent(key, deadline)
            ):
                return Loaded(None, None), None
            return Loaded(None, None, StateReadFailed(f"s3://{self.bucket}/{key}: {error_code(exc)}")), None
        except BotoCoreError as exc:
            return Loaded(None, None, StateReadFailed(f"s3://{self.bucket}/{key}: {type(exc).__name__}")), None
        return Loaded(None, answer["ETag"]), data

    def _absent(self, key: str, deadline: Deadline) -> bool:
        """After a 403: whether the object simply does not exist. S3 answers 403 for a missing key unless
        the caller may list the bucket, and template.yaml grants that only under the state prefix, which
        a GET does not name: a listing of exactly this key does."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            listing = self.s3(deadline).list_objects_v2(Bucket=self.bucket, Prefix=key, MaxKeys=1)
        except (ClientError, BotoCoreError):
            return False
        return not any(item.get("Key") == key for item in listing.get("Contents", []))

    def _put(self, key: str, body: bytes, token: str | None, deadline: Deadline) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        condition = {"IfMatch": token} if token else {"IfNoneMatch": "*"}
        try:
            s3 = self.s3(deadline)
            s3.put_object(Bucket=self.bucket, Key=key, Body=body, ContentType="application/json", **condition)
        except ClientError as exc:
            if error_code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                log.debug("state: s3://%s/%s changed since it was read: not written", self.bucket, key)
                return False
            raise StateWriteFailed(f"s3://{self.bucket}/{key}: {error_code(exc)}") from None
        except BotoCoreError as exc:
            raise StateWriteFailed(f"s3://{self.bucket}/{key}: {type(exc).__name__}") from None
        log.debug("state: wrote s3://%s/%s, %d bytes", self.bucket, key, len(body))
        return True


class LocalStateStore:
    """One JSON file per node in a directory; conditional writes under an exclusive flock. Deadlines are
    taken and not applied: a local disk answers or fails."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, node: str) -> Path:
        return self.directory / f"{node_segment(node)}.json"

    def series_path(self, instance: str) -> Path:
        return self.directory / SERIES_DIR / f"{series_segment(instance)}.json"

    def load(self, node: str, deadline: Deadline) -> Loaded:
        read, data = self._read(self.path(node))
        return read if data is None else _loaded(node, data, read.token or "")

    def save(self, node: str, state: dict[str, Any], token: str | None, deadline: Deadline) -> bool:
        return self._write(self.path(node), _encode(state), token)

    def load_series(self, instance: str, deadline: Deadline) -> Loaded:
        return _series_loaded(instance, *self._read(self.series_path(instance), MAX_SERIES_BYTES))

    def save_series(self, instance: str, body: bytes, token: str | None, deadline: Deadline) -> bool:
        return self._write(self.series_path(instance), body, token)

    @staticmethod
    def _read(path: Path, limit: int = MAX_STATE_BYTES) -> tuple[Loaded, bytes | None]:
        try:
            with open(path, "rb") as file:
                data = read_at_most(file.read, limit)
                file.seek(0)
                token = hashlib.file_digest(file, "sha256").hexdigest()  # of the whole file, as save compares
        except FileNotFoundError:
            return Loaded(None, None), None
        except OSError as exc:
            return Loaded(None, None, StateReadFailed(f"{path}: {exc.strerror or type(exc).__name__}")), None
        return Loaded(None, token), data

    def _write(self, path: Path, body: bytes, token: str | None) -> bool:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path.with_suffix(".lock"), "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                try:
                    with open(path, "rb") as stored:  # a chunk at a time: the series document may be large
                        current: str | None = hashlib.file_digest(stored, "sha256").hexdigest()
                except FileNotFoundError:
                    current = None
                if current != token:
                    log.debug("state: %s changed since it was read: not written", path)
                    return False
                temporary = path.with_suffix(f".{os.getpid()}.tmp")
                size = temporary.write_bytes(body)
                os.replace(temporary, path)
        except OSError as exc:
            raise StateWriteFailed(f"{path}: {exc.strerror or type(exc).__name__}") from None
        log.debug("state: wrote %s, %d bytes", path, size)
        return True


#: Attempts at a conditional write before giving up (each after re-reading the winner's state).
ATTEMPTS = 5


@dataclass
class Draft:
    """One node's next state, computed from what was loaded and not yet written.

    A run reports what ``outcome`` says (new and resolved errors) and writes the state with ``commit``
    only once it knows whether the export carrying those reports was delivered.
    """

    node: str
    loaded: Loaded
    compute: Callable[[dict[str, Any] | None], Any]  # previous state -> the model's Advance
    outcome: Any

    @property
    def failures(self) -> list[StateFailure]:
        return [self.loaded.failure] if self.loaded.failure is not None else []


def draft(store: StateStore, node: str, compute: Callable[[dict[str, Any] | None], Any], deadline: Deadline) -> Draft:
    """Load a node's state (by ``deadline``) and compute the next one from it; nothing is written."""
    loaded = store.load(node, deadline)
    return Draft(node, loaded, compute, compute(loaded.state))


def commit(
    store: StateStore, pending: Draft, finish: Callable[[Any], dict[str, Any]], deadline: Deadline
) -> list[StateFailure]:
    """Write ``finish(outcome)`` if the stored state is still the one the draft was computed from, by
    ``deadline`` (re-reads and retries included).

    On a conflict (another run wrote in between) it re-reads, recomputes against the winner's state and
    tries again, so overlapping runs never lose each other's update. A corrupt or unreadable state is
    simply replaced. Returns the write failures (empty when written).
    """
    loaded, outcome = pending.loaded, pending.outcome
    for attempt in range(ATTEMPTS):
        if attempt:
            loaded = store.load(pending.node, deadline)
            outcome = pending.compute(loaded.state)
        try:
            if store.save(pending.node, finish(outcome), loaded.token, deadline):
                return []
        except StateWriteFailed as failure:
            return [failure]
    return [StateWriteFailed(f"state of node {pending.node}: {ATTEMPTS} conflicting writes in a row; not saved")]


DEFAULT_PREFIX = "state/"
DEFAULT_LOCAL_DIR = "exalate-state"


def store_for(settings: Settings, *, in_lambda: bool, local_dir: str | None = None) -> StateStore | None:
    """S3 (STATE_BUCKET, else ARCHIVE_BUCKET; STATE_PREFIX, default state/), else outside AWS a local directory."""
    bucket = settings.state_bucket or settings.archive_bucket
    if bucket:
        from ..aws import LazyClient

        return S3StateStore(LazyClient("s3"), bucket, settings.state_prefix or DEFAULT_PREFIX)
    if in_lambda:
        log.warning("no STATE_BUCKET or ARCHIVE_BUCKET: errors are reported in every run and queues have no age")
        return None
    return LocalStateStore(Path(local_dir or settings.state_dir or DEFAULT_LOCAL_DIR))
