"""S3 answers 403, not 404, for a missing object when the caller may not list the bucket; template.yaml
grants ListBucket only under the state prefix, which a GET does not name. The store tells the two apart
with a listing of exactly the state key (an in-process S3 double: IAM is not what moto enforces)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from botocore.exceptions import ClientError
from exalate_collector.deadline import Deadline
from exalate_collector.state.store import S3StateStore


class RefusingS3:
    def __init__(self, listed: list[str] | None) -> None:
        self.listed = listed  # None: the listing is refused too
        self.prefixes: list[str] = []

    def get_object(self, **kwargs: Any) -> Any:
        raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "GetObject")

    def list_objects_v2(self, **kwargs: Any) -> Any:
        self.prefixes.append(kwargs["Prefix"])
        if self.listed is None:
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "Access Denied"}}, "ListObjectsV2")
        return {"Contents": [{"Key": key} for key in self.listed]}


@pytest.mark.parametrize(
    ("listed", "missing"),
    [
        ([], True),  # nothing there: a fresh start, not a failure
        (["state/jira-prod.json.bak"], True),  # a longer key that shares the prefix is not the object
        (["state/jira-prod.json"], False),  # it is there and GET was refused: a real failure
        (None, False),  # cannot tell: a real failure
    ],
)
def test_a_403_for_a_missing_state_is_a_fresh_start(listed, missing):
    s3 = RefusingS3(listed)
    loaded = S3StateStore(lambda deadline: s3, "bucket", "state/").load("jira-prod", Deadline.NONE)
    assert s3.prefixes == ["state/jira-prod.json"]
    assert loaded.state is None and loaded.token is None
    if missing:
        assert loaded.failure is None
    else:
        assert loaded.failure is not None and loaded.failure.error_type == "state_read_failed"
        assert "AccessDenied" in loaded.failure.detail


def test_a_series_document_past_the_node_states_bound_reads_back_and_one_past_its_own_is_corrupt(tmp_path):
    """Bench section 10: 5,000 relations make a 17 MB series document; bounded like a node's state
    (16 MB) it read as corrupt, and every run started its counters anew."""
    from exalate_collector.state.store import MAX_SERIES_BYTES, MAX_STATE_BYTES, LocalStateStore

    store = LocalStateStore(tmp_path)
    large = {"schema": 1, "gauges": [["exalate.endpoint.up", {"exalate.relation": "R" * 90}]] * 200_000}
    assert store.save_series("vm:1", json.dumps(large).encode(), None, Deadline.NONE)
    assert store.series_path("vm:1").stat().st_size > MAX_STATE_BYTES
    loaded = store.load_series("vm:1", Deadline.NONE)
    assert loaded.failure is None and loaded.state == large
    store.series_path("vm:1").write_bytes(b" " * (MAX_SERIES_BYTES + 1))
    failure = store.load_series("vm:1", Deadline.NONE).failure
    assert failure is not None and "larger than" in failure.detail


@pytest.mark.parametrize(
    ("size", "limit", "expected"),
    [(0, 10, 0), (10, 10, 10), (11, 10, 11), (5_000_000, 3_000_000, 3_000_001), (2_500_000, 3_000_000, 2_500_000)],
)
def test_a_bounded_read_stops_one_past_the_bound_and_asks_for_a_chunk_at_a_time(size, limit, expected):
    """``read(limit + 1)`` would allocate the whole bound at once (192 MB for a series document)."""
    import io

    from exalate_collector.state.store import READ_CHUNK, read_at_most

    source = io.BytesIO(bytes(range(256)) * (size // 256) + bytes(size % 256))
    asked: list[int] = []

    def read(n: int) -> bytes:
        asked.append(n)
        return source.read(n)

    data = read_at_most(read, limit)
    assert len(data) == expected and data == source.getvalue()[:expected]
    assert max(asked) <= READ_CHUNK
