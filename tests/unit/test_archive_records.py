"""Pure archive pieces: records, gzip JSON Lines, keys, and the SQS envelope."""

from __future__ import annotations

import base64
import hashlib
import json
import tempfile
from datetime import UTC, datetime

import pytest
from exalate_collector.archive.envelope import (
    MAX_MESSAGE_BYTES,
    EnvelopeError,
    claim_message,
    fits,
    inline_fits,
    inline_message,
    parse_message,
)
from exalate_collector.archive.records import (
    RECORD_FIELDS,
    archive_key,
    body_of,
    decode_jsonl_gz,
    encode_jsonl_gz,
    record_of,
    staging_key,
)
from exalate_collector.endpoints import BLOB_ERRORS, SYNC_REQUESTS
from exalate_collector.simulator import seed_body

from ..conftest import ROOT, exchange_for

STARTED = datetime(2026, 11, 27, 7, 5, tzinfo=UTC)
RUN = "20261127T070500Z-0a1b2c3d"  # what runner.new_run_id makes at STARTED


def test_a_record_keeps_the_body_byte_for_byte_and_has_every_field():
    ex = exchange_for(SYNC_REQUESTS, seed_body(SYNC_REQUESTS))
    record = record_of("r1", ex)
    assert tuple(record) == RECORD_FIELDS
    assert record["body"] == seed_body(SYNC_REQUESTS).decode("utf-8") and record["body_base64"] is False
    assert body_of(record) == seed_body(SYNC_REQUESTS)
    assert record["body_sha256"] == hashlib.sha256(seed_body(SYNC_REQUESTS)).hexdigest()
    assert record["error_type"] is None and record["status_code"] == 200
    assert record["requested_at"] == "2026-11-27T12:00:00.000Z"


def test_failed_polls_are_recorded_with_their_evidence():
    record = record_of("r1", exchange_for(BLOB_ERRORS, seed_body(BLOB_ERRORS)))
    assert record["error_type"] == "invalid_json"
    assert body_of(record) == seed_body(BLOB_ERRORS)


def test_non_utf8_bodies_are_base64_with_a_flag():
    raw = b"\xff\xfe\x00<html>\x80</html>"
    record = record_of("r1", exchange_for(SYNC_REQUESTS, raw, status=500, content_type="text/html"))
    assert record["body_base64"] is True and base64.b64decode(record["body"]) == raw
    assert body_of(record) == raw


def test_jsonl_gz_round_trip_is_deterministic():
    records = [record_of("r1", exchange_for(e, seed_body(e))) for e in (SYNC_REQUESTS, BLOB_ERRORS)]
    payload = encode_jsonl_gz(records)
    assert payload == encode_jsonl_gz(records)
    assert decode_jsonl_gz(payload) == records


@pytest.mark.parametrize(
    ("prefix", "node", "expected"),
    [
        ("exalate/", "jira-prod", "exalate/dt=2026-11-27/hour=07/node=jira-prod/r1.jsonl.gz"),
        ("exalate", "jira prod/eu", "exalate/dt=2026-11-27/hour=07/node=jira%20prod%2Feu/r1.jsonl.gz"),
        ("", "n", "dt=2026-11-27/hour=07/node=n/r1.jsonl.gz"),
    ],
)
def test_archive_key_layout(prefix, node, expected):
    assert archive_key(prefix, STARTED, node, "r1") == expected


def test_staging_key():
    assert staging_key("staging/", "r1", "jira prod") == "staging/r1/jira%20prod.jsonl.gz"


def test_inline_envelope_round_trip():
    payload = encode_jsonl_gz([{"a": 1}])
    envelope = parse_message(inline_message(RUN, "n", STARTED, 1, payload))
    assert (envelope.kind, envelope.payload, envelope.run_id, envelope.node, envelope.started_at, envelope.records) == (
        "inline",
        payload,
        RUN,
        "n",
        STARTED,
        1,
    )


def test_claim_envelope_round_trip():
    envelope = parse_message(claim_message(RUN, "n", STARTED, 3, "b", "staging/k", b"xyz"))
    assert (envelope.kind, envelope.bucket, envelope.key, envelope.size) == ("claim_check", "b", "staging/k", 3)
    assert envelope.sha256 == hashlib.sha256(b"xyz").hexdigest()


def test_inline_fits_agrees_with_the_real_message_size():
    for size in (0, 1000, 700_000, 778_000, 779_000, 800_000):
        message = inline_message("20261127T070500Z-0a1b2c3d", "jira-prod", STARTED, 18, b"x" * size)
        assert inline_fits(size) <= fits(message)  # never claims to fit when it does not
    assert inline_fits(700_000) and not inline_fits(MAX_MESSAGE_BYTES)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "{}",
        '{"v": 2}',
        '{"v":1,"run_id":"r","node":"n","started_at":"x","records":1,"kind":"inline"}',
        '{"v":1,"run_id":"r","node":"n","started_at":"2026-01-01T00:00:00+00:00","records":1,"kind":"other"}',
        '{"v":1,"run_id":"r","node":"n","started_at":"2026-01-01T00:00:00+00:00","records":1,"kind":"inline",'
        '"payload":"!!"}',
    ],
)
def test_malformed_messages_are_envelope_errors(body):
    with pytest.raises(EnvelopeError):
        parse_message(body)


def head(**changes: object) -> str:
    fields = {"run_id": RUN, "node": "jira-prod", "started_at": STARTED.isoformat(), "records": 1}
    body = {"v": 1, **fields, **changes, "kind": "claim_check", "bucket": "b", "key": "staging/k"}
    return json.dumps({"size": 3, "sha256": hashlib.sha256(b"xyz").hexdigest(), **body})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"run_id": "../../etc"}, "run_id is not of the form"),
        ({"run_id": "20261127T070500Z-0a1b2c3d/../x"}, "run_id is not of the form"),
        ({"run_id": "20261127T070501Z-0a1b2c3d"}, "run_id and started_at disagree"),
        ({"started_at": "0001-01-01T00:00:00+00:00", "run_id": "00010101T000000Z-0a1b2c3d"}, "not a plausible time"),
        ({"started_at": "2999-01-01T00:00:00+00:00", "run_id": "29990101T000000Z-0a1b2c3d"}, "not a plausible time"),
        ({"started_at": "2026-11-27T07:05:00"}, "started_at has no time zone"),
        ({"node": " "}, "node is empty"),
        ({"records": -1}, "records is negative"),
        ({"size": -3}, "size is not a byte count"),
        ({"size": True}, "size is not a byte count"),
        ({"sha256": "ABC"}, "sha256 is not 64 lower-case hex digits"),
    ],
)
def test_the_fields_that_make_the_key_are_validated(changes, message):
    assert parse_message(head()).run_id == RUN
    with pytest.raises(EnvelopeError, match=message):
        parse_message(head(**changes))


def test_sample_events_are_what_the_generator_makes(tmp_path, monkeypatch):
    import runpy

    committed = {
        name: (ROOT / "events" / name).read_bytes()
        for name in ("sqs-inline.json", "sqs-claim-check.json", "staging-object.jsonl.gz")
    }
    module = runpy.run_path(str(ROOT / "events" / "generate.py"))
    monkeypatch.setitem(module["main"].__globals__, "HERE", tmp_path)
    module["main"]()
    assert {name: (tmp_path / name).read_bytes() for name in committed} == committed
    inline = parse_message(json.loads(committed["sqs-inline.json"])["Records"][0]["body"])
    assert inline.payload == committed["staging-object.jsonl.gz"]


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        seed_body(SYNC_REQUESTS),
        seed_body(BLOB_ERRORS),
        b"\xff\xfe\x00 not utf-8",
        'quotes " backslash \\ control \x01 tab \t newline \n unicode é 😀 \u2028'.encode(),
        ("é" * 2_000_000).encode(),
    ],  # multi-byte characters across slice boundaries
)
@pytest.mark.parametrize("in_file", [False, True], ids=["in memory", "spilled to a file"])
def test_streaming_writer_makes_exactly_the_simple_encoding(body, in_file, monkeypatch):
    from exalate_collector.archive import records

    monkeypatch.setattr(records, "SLICE", 3 * 5)  # tiny slices: every boundary case gets exercised
    exchanges = [
        exchange_for(SYNC_REQUESTS, body, status=500, content_type="text/plain"),
        exchange_for(SYNC_REQUESTS, b"[]"),
    ]
    expected = encode_jsonl_gz([record_of("r1", ex) for ex in exchanges])
    if in_file:  # an answer over the memory budget: its body is read back from its temporary file
        exchanges[0].body_file = tempfile.TemporaryFile()  # noqa: SIM115 - release_body closes it
        exchanges[0].body_file.write(body)
        exchanges[0].body = b""
    writer = records.JsonlGzWriter(spool_bytes=1024)  # the payload itself goes to a file past 1 KB
    for ex in exchanges:
        writer.add("r1", ex)
    assert writer.records == 2
    payload = writer.finish()
    assert payload.read() == expected
    assert (payload.size, payload.sha256) == (len(expected), hashlib.sha256(expected).hexdigest())
    payload.close()
    exchanges[0].release_body()


def test_encryption_arguments():
    from exalate_collector.archive.store import Encryption

    assert Encryption().put_arguments() == {"ServerSideEncryption": "AES256"}
    kms = Encryption("arn:aws:kms:eu-west-1:1:key/k").put_arguments()
    assert kms == {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:eu-west-1:1:key/k"}
