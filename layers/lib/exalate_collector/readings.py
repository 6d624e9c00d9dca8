"""The values an answer is read into: a ``Reading`` (what a successful poll of one endpoint said: its count,
reasons, kept errors and identities, or the connections of the 4.0 list), the ``ErrorItem`` (the safe part of
one error: identifiers, reason and message, nothing of a replica) and the ``Connection``; and what makes a
connection name one the collector may put into a URL, an attribute, a log line and the state. Pure
values, no parsing: the parsers (``answer_parsers``), the points, the state and discovery all share them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from .text import is_name_text

UNKNOWN = "UNKNOWN"
#: A connection name from the 4.0 list goes into URLs, attributes, log lines and the state as it is:
#: a longer one, or one with a control character, is not a name (the list is unexpected_shape).
MAX_NAME_CHARS = 255


def is_connection_name(name: object) -> bool:
    """A name the collector may put into a URL path, an attribute, a log line and the state: a
    non-empty string of at most MAX_NAME_CHARS characters, no control character, not a dot segment
    ('.' or '..' would leave /relations/)."""
    return (
        isinstance(name, str)
        and bool(name.strip())
        and len(name) <= MAX_NAME_CHARS
        and is_name_text(name)
        and name not in (".", "..")
    )


@dataclass(frozen=True)
class ErrorItem:
    """The safe part of one item of ``errorresponses`` or ``bloberrorresponses``.

    Only identifiers, the reason and the node's error message are kept; nothing of a replica.
    """

    endpoint: str
    reason: str
    message: str | None = None
    sync_event_id: int | str | None = None
    issue_key: str | None = None
    issue_id: int | str | None = None
    blob_id: int | str | None = None
    blob_event_id: int | str | None = None
    #: ``<id>|<reason>`` (the id at the row's ``identity`` path): what makes this error the same error
    #: in the next run; None when the item has no id (untrackable).
    identity: str | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Connection:
    """One connection of the 4.0 list: its name (the relation name of the 2.4 API) and status."""

    name: str
    status: str
    id: int | str | None = None


@dataclass(frozen=True)
class Reading:
    """What a successful poll of one endpoint said."""

    #: Items of a queue or of errors; the total of a 4.0 queue; cmonitor's numErrors; connections listed.
    items: int
    reasons: Mapping[str, int] = field(default_factory=dict)
    errors: tuple[ErrorItem, ...] = ()
    #: Identities of the queued items (syncEventId, or blobId for blob endpoints), for the state.
    identities: tuple[str, ...] = ()
    connections: tuple[Connection, ...] = ()
