"""Shared fixtures: the seed document, its example bodies, and exchanges built from them."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from exalate_collector import secret_refs
from exalate_collector.endpoints import BLOB_ERRORS, ENDPOINTS, row
from exalate_collector.errors import PollFailure
from exalate_collector.model import Exchange
from exalate_collector.parse import interpret
from exalate_collector.simulator import seed_body

ROOT = Path(__file__).resolve().parents[1]
SEED = ROOT.parent / "shared" / "seed" / "000_8d69cb4048bea0f7.txt"
GOLDEN = Path(__file__).parent / "golden"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _fresh_secret_cache():
    secret_refs.clear_cache()
    yield
    secret_refs.clear_cache()


def exchange_for(
    endpoint: str,
    body: bytes,
    *,
    status: int = 200,
    content_type: str = "application/json",
    node: str = "jira-prod",
    relation: str = "AllContent",
    elapsed_s: float = 0.05,
) -> Exchange:
    """The Exchange a poll would produce for this answer (pure: through ``interpret``)."""
    ex = Exchange(
        node=node,
        relation=relation,
        endpoint=endpoint,
        url=row(endpoint).url("https://jira.example.com/jira", relation),
        started_at=T0,
        elapsed_s=elapsed_s,
        status_code=status,
        content_type=content_type,
        body=body,
        sent=True,
    )
    try:
        ex.reading = interpret(endpoint, status, content_type, body)
    except PollFailure as failure:
        failure.status_code = failure.status_code or status
        ex.failure = failure
    return ex


def repaired_blob_errors() -> bytes:
    """The seed's bloberrorresponses example with its missing comma restored: the answer a sound node sends."""
    broken = seed_body(BLOB_ERRORS)
    repaired = broken.replace(b'"\n  "blobErrorReason"', b'",\n  "blobErrorReason"', 1)
    assert repaired != broken
    return repaired


def seed_exchanges(relation: str = "AllContent", node: str = "jira-prod") -> list[Exchange]:
    return [exchange_for(e, seed_body(e), relation=relation, node=node) for e in ENDPOINTS]


def golden(name: str, actual: object) -> object:
    """Compare with tests/golden/NAME; UPDATE_GOLDEN=1 rewrites it (review the diff before committing)."""
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN") == "1":
        path.write_text(json.dumps(actual, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return json.loads(path.read_text(encoding="utf-8"))
