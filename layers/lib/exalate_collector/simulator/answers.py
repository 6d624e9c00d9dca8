"""What the simulated node answers by default, and how a test changes it: the API document's example body
of each endpoint (``seed``: byte for byte as printed; ``repaired``: its one example that is not valid JSON,
``bloberrorresponses``, with the missing comma restored, the answer a sound node sends), the node's own
text for a relation it does not know, and ``Behaviour``, how one endpoint answers (status, body, content
type, latency, a hang, a drop, extra headers, a trickled body, an echo of the request).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Literal

from ..endpoints import BLOB_ERRORS, row

NOT_FOUND_TEXT = "Connection `{relation}` not found. Seems like it was removed on the Destination side."


Examples = Literal["seed", "repaired"]
#: The API document's examples that are not valid JSON, served repaired with ``examples="repaired"``.
REPAIRED = frozenset({BLOB_ERRORS})


def seed_body(endpoint: str) -> bytes:
    """The example body of an endpoint (for the 2.4 ones, exactly as the API document prints it)."""
    return files(__package__).joinpath("fixtures", row(endpoint).fixture).read_bytes()


def repaired_body(endpoint: str) -> bytes:
    """The example body of an endpoint as a sound node sends it: the seed's, or its repaired copy
    (``<fixture>.repaired.json``: the seed's bytes with its one missing comma restored)."""
    if endpoint not in REPAIRED:
        return seed_body(endpoint)
    name = row(endpoint).fixture.removesuffix(".json") + ".repaired.json"
    return files(__package__).joinpath("fixtures", name).read_bytes()


def example_body(endpoint: str, examples: Examples = "seed") -> bytes:
    return repaired_body(endpoint) if examples == "repaired" else seed_body(endpoint)


@dataclass
class Behaviour:
    """How one endpoint answers. The default is the document's example with 200."""

    status: int = 200
    body: bytes | None = None  # None: the node's example for the endpoint (seed or repaired)
    content_type: str = "application/json"
    latency_s: float = 0.0
    hang: bool = False  # accept the request, never answer (until the server stops)
    drop: bool = False  # close the connection without any answer
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Send the body in pieces with this pause between them (a slow, trickling node).
    trickle_s: float = 0.0
    #: Echo the request (line and headers, credentials included) as a careless node does: in place of
    #: every ``{echo}`` in the body (JSON-escaped), or appended to it.
    echo: bool = False
