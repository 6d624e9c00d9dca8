"""The endpoint table: every Exalate endpoint the collector reads, declared once.

Each row says where the endpoint lives (API version, path template), what its answer is (``answer``:
a queue of items with an identity, errors with a reason, a total, an error count, a connection list),
and what it feeds (metric, events, state). Parsing (``answer_parsers.PARSERS[answer]``), the metric points,
the state, the simulator's routes, docs/telemetry.md and the tests' expected counts are all derived
from this table: adding an endpoint is one row here, a fixture in ``simulator/fixtures/`` and, for a
new kind of answer, a parser.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import quote, urlencode

Answer = Literal["queue", "errors", "total", "error_count", "connections"]
Direction = Literal["outgoing", "incoming"]
#: The node's ``collect`` list: which groups of rows a run polls.
Group = Literal["relations", "queues", "errors", "connections"]
GROUPS: Final[tuple[Group, ...]] = ("relations", "queues", "errors", "connections")
#: Where a shape comes from: the API document (the seed), the vendor's monitoring guide, public scripts.
Source = Literal["vendor API document", "vendor monitoring guide", "vendor staff scripts"]

REST_PREFIX: Final = "/rest/issuehub/"
#: The one path a POST may go to: Exalate's 4.0 login (``auth: {type: login}``).
LOGIN_PATH: Final = "/rest/issuehub/4.0/authenticate"
QUEUE_SIZE: Final = "exalate.queue.size"


@dataclass(frozen=True)
class Endpoint:
    """One row of the table."""

    #: The value of the ``exalate.endpoint`` attribute (and the archive's ``endpoint`` field).
    name: str
    #: issuehub REST API version.
    api: str
    #: Below ``/rest/issuehub/<api>/``; ``{relation}`` is replaced by the percent-encoded relation name.
    path: str
    #: What the answer is; selects the parser (``answer_parsers.PARSERS``).
    answer: Answer
    #: The ``collect`` group that polls it.
    group: Group
    #: Where the shape of the answer comes from.
    source: Source
    #: What the endpoint holds, for the docs.
    description: str
    #: The path, inside one item, of the item's identity (what makes it the same item in the next run).
    identity: tuple[str, ...] = ()
    #: For queues: which way the items travel (the 4.0 totals add these up).
    direction: Direction | None = None
    #: For errors: the field with the reason, the field with the node's message.
    reason: str | None = None
    message: str | None = None
    #: For errors: "sync" or "blob" (names the reason metric and the events).
    kind: str | None = None
    #: Error-item fields that are attributes of the events (besides the reason and the source issue).
    extra_ids: tuple[str, ...] = ()
    #: The gauge of the reading's value (item count, total, error count, connection count).
    metric: str = QUEUE_SIZE
    #: Query parameters sent with the GET.
    query: tuple[tuple[str, str], ...] = ()

    @property
    def per_relation(self) -> bool:
        return "{relation}" in self.path

    @property
    def remembered(self) -> bool:
        """Whether the state keeps the identities of its items (ages, stuck items, new/resolved errors)."""
        return bool(self.identity)

    @property
    def reason_metric(self) -> str | None:
        return f"exalate.{self.kind}.errors" if self.kind else None

    @property
    def error_event(self) -> str | None:
        return f"exalate.{self.kind}.error" if self.kind else None

    @property
    def resolved_event(self) -> str | None:
        return f"exalate.{self.kind}.error.resolved" if self.kind else None

    @property
    def fixture(self) -> str:
        """The simulator's example answer: ``simulator/fixtures/<fixture>``."""
        return self.name.replace("/", "__") + ".json"

    @property
    def template(self) -> str:
        """The path template below the Jira context path, e.g. ``/rest/issuehub/2.4/relations/{relation}/...``."""
        return f"{REST_PREFIX}{self.api}/{self.path}"

    def url_path(self, relation: str = "") -> str:
        """The request path below the Jira context path; the relation name is percent-encoded."""
        # errors="replace": a name that is not text (a lone surrogate) can never raise here
        return self.template.format(relation=quote(relation, safe="", errors="replace"))

    @property
    def query_string(self) -> str:
        """``?limit=0``, or '' without query parameters."""
        return "?" + urlencode(self.query) if self.query else ""

    def url(self, base_url: str, relation: str = "") -> str:
        """The whole URL (as reported and archived): base URL, path and query; never a token."""
        return base_url + self.url_path(relation) + self.query_string


_SEED: Final[Source] = "vendor API document"

#: In the order of the API document.
TABLE: Final = (
    Endpoint(
        name="syncevents/syncrequests",
        api="2.4",
        path="relations/{relation}/syncevents/syncrequests",
        answer="queue",
        group="relations",
        source=_SEED,
        description="sync requests ready to be received",
        identity=("syncEventId",),
        direction="outgoing",
    ),
    Endpoint(
        name="syncevents/blobrequests",
        api="2.4",
        path="relations/{relation}/syncevents/blobrequests",
        answer="queue",
        group="relations",
        source=_SEED,
        description="attachment (blob) requests ready to be received",
        identity=("blobMetadata", "blobId"),
        direction="outgoing",
    ),
    Endpoint(
        name="syncrequests/syncresponses",
        api="2.4",
        path="relations/{relation}/syncrequests/syncresponses",
        answer="queue",
        group="relations",
        source=_SEED,
        description="answers to sync requests sent earlier",
        identity=("syncEventId",),
        direction="incoming",
    ),
    Endpoint(
        name="syncrequests/blobresponses",
        api="2.4",
        path="relations/{relation}/syncrequests/blobresponses",
        answer="queue",
        group="relations",
        source=_SEED,
        description="answers to blob requests sent earlier",
        identity=("blobMetadata", "blobId"),
        direction="incoming",
    ),
    Endpoint(
        name="syncrequests/errorresponses",
        api="2.4",
        path="relations/{relation}/syncrequests/errorresponses",
        answer="errors",
        group="relations",
        source=_SEED,
        description="sync requests the other side failed to process (`errorReason`)",
        identity=("syncEventId",),
        reason="errorReason",
        message="message",
        kind="sync",
    ),
    Endpoint(
        name="syncrequests/bloberrorresponses",
        api="2.4",
        path="relations/{relation}/syncrequests/bloberrorresponses",
        answer="errors",
        group="relations",
        source=_SEED,
        description="attachments the other side failed to process (`blobErrorReason`)",
        identity=("blobId",),
        reason="blobErrorReason",
        message="errorMessage",
        kind="blob",
        extra_ids=("blobId", "blobEventId"),
    ),
    Endpoint(
        name="4.0/syncevents",
        api="4.0",
        path="syncevents",
        query=(("limit", "0"),),
        answer="total",
        group="queues",
        source="vendor monitoring guide",
        description='outgoing sync events of the whole node: `{"limit":0,"total":20,"results":[]}`',
        direction="outgoing",
        metric="exalate.queue.total",
    ),
    Endpoint(
        name="4.0/syncrequests",
        api="4.0",
        path="syncrequests",
        query=(("limit", "0"),),
        answer="total",
        group="queues",
        source="vendor monitoring guide",
        description="incoming sync requests of the whole node (same shape)",
        direction="incoming",
        metric="exalate.queue.total",
    ),
    Endpoint(
        name="4.0/cmonitor",
        api="4.0",
        path="cmonitor",
        answer="error_count",
        group="errors",
        source="vendor monitoring guide",
        description='the "customer monitor" of Exalate Cloud nodes: `{"numErrors":0}`',
        metric="exalate.node.errors",
    ),
    Endpoint(
        name="4.0/connections",
        api="4.0",
        path="connections",
        answer="connections",
        group="connections",
        source="vendor staff scripts",
        description="the node's connections with id, name, status (ACTIVE, DEACTIVATED) and remote node type",
        metric="exalate.connections",
    ),
)

BY_NAME: Final = {e.name: e for e in TABLE}
#: The row that lists connections (``relations: auto`` reads it first).
CONNECTIONS: Final = "4.0/connections"
#: The endpoints polled for every relation (``collect: [relations]``), in table order.
#: Every other row is polled once per node.
RELATION_ENDPOINTS: Final = tuple(e for e in TABLE if e.per_relation)
#: Their names: the values of ``exalate.endpoint`` for a relation.
ENDPOINTS: Final = tuple(e.name for e in RELATION_ENDPOINTS)
#: Relation endpoints whose items are errors, and those whose items are remembered between runs.
ERROR_ENDPOINTS: Final = tuple(e.name for e in RELATION_ENDPOINTS if e.answer == "errors")
REMEMBERED: Final = tuple(e.name for e in RELATION_ENDPOINTS if e.remembered)

# Names the tests and the demo use for particular rows.
SYNC_REQUESTS: Final = "syncevents/syncrequests"
BLOB_REQUESTS: Final = "syncevents/blobrequests"
SYNC_RESPONSES: Final = "syncrequests/syncresponses"
BLOB_RESPONSES: Final = "syncrequests/blobresponses"
SYNC_ERRORS: Final = "syncrequests/errorresponses"
BLOB_ERRORS: Final = "syncrequests/bloberrorresponses"


def row(name: str) -> Endpoint:
    """The row of an ``exalate.endpoint`` value. Raises KeyError for a name not in the table."""
    return BY_NAME[name]


def relation_path(relation: str, name: str) -> str:
    """Path of one relation endpoint below the Jira context path; the relation name is percent-encoded."""
    return BY_NAME[name].url_path(relation)


def node_rows(collect: Iterable[str]) -> tuple[Endpoint, ...]:
    """The once-per-node rows a node's ``collect`` list selects, in table order."""
    groups = set(collect)
    return tuple(e for e in TABLE if not e.per_relation and e.group in groups)


def plan(relations: Iterable[str], collect: Iterable[str], skip: Iterable[str] = ()) -> tuple[tuple[str, str], ...]:
    """The (relation, endpoint) pairs one run GETs for a node: its once-per-node rows (relation ''),
    then every relation row for each relation; ``skip`` names rows already polled (discovery)."""
    collect, skipped = tuple(collect), set(skip)
    jobs = [("", e.name) for e in node_rows(collect) if e.name not in skipped]
    if "relations" in collect:
        jobs += [(relation, e.name) for relation in relations for e in RELATION_ENDPOINTS]
    return tuple(jobs)


def polls_per_relation(relations: Iterable[str]) -> int:
    """How many GETs one run makes for these relations (what the tests count)."""
    return sum(1 for _ in relations) * len(RELATION_ENDPOINTS)
