"""Plain data shared by the I/O edges and the pure functions between them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from . import errors
from .parse import Reading


@dataclass
class Exchange:
    """One GET and what came back: the unit of telemetry and of the archive."""

    node: str
    relation: str
    endpoint: str
    url: str  # never carries a token
    started_at: datetime
    elapsed_s: float
    status_code: int | None = None
    content_type: str | None = None
    content_length: str | None = None
    date: str | None = None
    body: bytes = b""
    reading: Reading | None = None
    failure: errors.PollFailure | None = None
    #: True once the GET went out; False when it failed before (secret, deadline).
    sent: bool = False

    @property
    def ok(self) -> bool:
        return self.failure is None and self.reading is not None
