"""Answers over the memory budget are parsed from their temporary file, item by item, slice by slice:
the same readings as from memory, whatever the slicing."""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from exalate_collector import errors, parse
from exalate_collector.endpoints import BLOB_ERRORS, SYNC_ERRORS, SYNC_REQUESTS
from exalate_collector.parse import interpret, interpret_file
from exalate_collector.simulator import seed_body

from ..conftest import repaired_blob_errors


@contextmanager
def as_file(body: bytes) -> Iterator:
    with tempfile.TemporaryFile() as file:
        file.write(body)
        yield file


def both(endpoint: str, body: bytes, status: int = 200, content_type: str = "application/json"):
    """(reading or failure type) from memory and from a file."""
    outcomes = []
    for read in (lambda: interpret(endpoint, status, content_type, body), None):
        try:
            if read is not None:
                outcomes.append(read())
            else:
                with as_file(body) as file:
                    outcomes.append(interpret_file(endpoint, status, content_type, file))
        except errors.PollFailure as failure:
            outcomes.append((type(failure).__name__, failure.excerpt if failure.status_code != 200 else None))
    return outcomes


MANY = json.dumps([{"syncEventId": i, "payload": "é x" * (i % 50), "n": 10**i % 997} for i in range(300)]).encode()


@pytest.mark.parametrize("piece", [1, 2, 3, 7, 64, 1 << 20])
@pytest.mark.parametrize(
    ("endpoint", "body"),
    [
        (SYNC_REQUESTS, seed_body(SYNC_REQUESTS)),
        (SYNC_ERRORS, seed_body(SYNC_ERRORS)),
        (BLOB_ERRORS, repaired_blob_errors()),
        (BLOB_ERRORS, seed_body(BLOB_ERRORS)),  # invalid JSON, as the API document prints it
        (SYNC_REQUESTS, MANY),
        (SYNC_REQUESTS, b"  [ ]  "),
        (SYNC_REQUESTS, b"[1, 2 3]"),
        (SYNC_REQUESTS, b"[1, 2] x"),
        (SYNC_REQUESTS, b'{"items": []}'),
        (SYNC_REQUESTS, b"[12345678901234567890, 3.25e10]"),
        (SYNC_REQUESTS, json.dumps([{"syncEventId": 7}]).encode("utf-16")),
        (SYNC_REQUESTS, b"[\xff\xfe]"),
    ],
)
def test_a_file_reads_as_memory_does_whatever_the_slices(endpoint, body, piece, monkeypatch):
    monkeypatch.setattr(parse, "STREAM_BYTES", piece)
    from_memory, from_file = both(endpoint, body)
    assert from_file == from_memory


def test_an_error_answer_from_a_file_has_the_same_excerpt():
    body = b"Connection `X` not found. Seems like it was removed on the Destination side." + b" " * 100_000
    memory, file = both(SYNC_REQUESTS, body, status=400, content_type="text/plain")
    assert memory == file and file[0] == "ConnectionNotFound"
    memory, file = both(SYNC_REQUESTS, b"<html>" + b"x" * 10_000, status=500, content_type="text/html")
    assert memory == file


def test_the_position_of_invalid_json_in_a_file_is_a_character_offset(monkeypatch):
    monkeypatch.setattr(parse, "STREAM_BYTES", 4)
    with as_file(b"[1, 2 3]") as file, pytest.raises(errors.InvalidJson, match="at character 6"):
        interpret_file(SYNC_REQUESTS, 200, "application/json", file)
