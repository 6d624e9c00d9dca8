"""Plain data shared by the I/O edges and the pure functions between them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from . import errors
from .parse import Reading


@dataclass
class Exchange:
    """One GET and what came back: the unit of telemetry and of the archive."""

    node: str
    relation: str  # '' for a once-per-node (4.0) endpoint
    endpoint: str
    url: str  # never carries a token
    started_at: datetime
    elapsed_s: float
    status_code: int | None = None
    content_type: str | None = None
    content_length: str | None = None
    date: str | None = None
    body: bytes = b""
    #: The body instead, when it did not fit the run's memory budget: an anonymous temporary file.
    body_file: BinaryIO | None = None
    reading: Reading | None = None
    failure: errors.PollFailure | None = None
    #: True once the GET went out; False when it failed before (secret, deadline).
    sent: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None and self.reading is not None

    def body_chunks(self, size: int) -> Iterator[bytes]:
        """The body in slices of ``size`` bytes, from memory or from its temporary file."""
        if self.body_file is None:
            for start in range(0, len(self.body), size):
                yield self.body[start : start + size]
            return
        self.body_file.seek(0)
        while chunk := self.body_file.read(size):
            yield chunk

    def release_body(self) -> None:
        """Let the body go (archived, or the run is over); a temporary file is closed and so removed."""
        self.body = b""
        if self.body_file is not None:
            self.body_file.close()
            self.body_file = None


@dataclass(frozen=True)
class Discovery:
    """The relations of a ``relations: auto`` node for one run, and where they came from."""

    node: str
    relations: tuple[str, ...]
    #: Set when the connection list could not be read (``relations`` then come from the state), or when
    #: it listed more than ``discover.max`` connections (the first by name were polled).
    failure: errors.DiscoveryFailed | None = None
    #: True when ``relations`` come from the list kept in the state, not from this run's list.
    from_state: bool = False
