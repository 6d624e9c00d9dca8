"""interpret(): one HTTP answer -> a Reading or the PollFailure naming what was wrong."""

from __future__ import annotations

import json

import pytest
from exalate_collector import errors
from exalate_collector.endpoints import (
    BLOB_ERRORS,
    BLOB_REQUESTS,
    BLOB_RESPONSES,
    ENDPOINTS,
    SYNC_ERRORS,
    SYNC_REQUESTS,
    SYNC_RESPONSES,
)
from exalate_collector.parse import interpret
from exalate_collector.readings import UNKNOWN, ErrorItem, Reading
from exalate_collector.simulator import seed_body

from ..conftest import SEED, repaired_blob_errors


@pytest.mark.skipif(not SEED.exists(), reason="the shared seed document is not beside the checkout")
@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_fixtures_are_the_seed_examples_byte_for_byte(endpoint):
    assert seed_body(endpoint).decode("utf-8") in SEED.read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("endpoint", "identity"),
    [(SYNC_REQUESTS, "4"), (BLOB_REQUESTS, "10008"), (SYNC_RESPONSES, "16"), (BLOB_RESPONSES, "10000")],
)
def test_seed_queue_examples_count_one_item_with_its_identity(endpoint, identity):
    assert interpret(endpoint, 200, "application/json", seed_body(endpoint)) == Reading(items=1, identities=(identity,))


def test_items_without_identity_still_count():
    body = b'[{"syncEventId": 1}, {}, {"syncEventId": null}, 5, {"syncEventId": "x"}]'
    assert interpret(SYNC_REQUESTS, 200, "application/json", body) == Reading(items=5, identities=("1", "x"))


def test_seed_sync_error_example_is_read_field_by_field():
    reading = interpret(SYNC_ERRORS, 200, "application/json", seed_body(SYNC_ERRORS))
    assert reading.items == 1
    assert reading.reasons == {"NO_ISSUE_TO_CONNECT_TO": 1}
    assert reading.errors == (
        ErrorItem(
            endpoint=SYNC_ERRORS,
            reason="NO_ISSUE_TO_CONNECT_TO",
            message="Could not connect `AC-113` to `AC-111`: issue by key `AC-111` already was connected to "
            "another issue using relation `AllContent`",
            sync_event_id=49,
            issue_key="AC-113",
            issue_id=11742,
        ),
    )


def test_seed_blob_error_example_is_invalid_json_and_says_where():
    with pytest.raises(errors.InvalidJson) as caught:
        interpret(BLOB_ERRORS, 200, "application/json", seed_body(BLOB_ERRORS))
    assert caught.value.detail == "invalid JSON at line 12 column 3: Expecting ',' delimiter"
    assert caught.value.excerpt is None  # a 200 body is never quoted: it may hold replica content


def test_blob_error_item_as_it_should_have_been_is_read():
    body = repaired_blob_errors()
    reading = interpret(BLOB_ERRORS, 200, "application/json", body)
    assert reading.reasons == {"CHECKSUM_MISMATCH": 1}
    item = reading.errors[0]
    assert (item.blob_id, item.blob_event_id, item.sync_event_id, item.issue_key) == (10000, 100, 14, "PAR-37")


@pytest.mark.parametrize(
    ("items", "reasons"),
    [
        ([{}], {UNKNOWN: 1}),
        ([{"errorReason": None}], {UNKNOWN: 1}),
        ([{"errorReason": ""}], {UNKNOWN: 1}),
        ([{"errorReason": 42}], {"42": 1}),
        ([{"errorReason": {"nested": 1}}], {UNKNOWN: 1}),
        ([None, 7, "x", []], {UNKNOWN: 4}),
        ([{"errorReason": "A"}, {"errorReason": "B"}, {"errorReason": "A"}], {"A": 2, "B": 1}),
        ([], {}),
    ],
)
def test_error_items_with_missing_or_odd_fields_still_count(items, reasons):
    reading = interpret(SYNC_ERRORS, 200, "application/json", json.dumps(items).encode())
    assert reading.items == len(items)
    assert reading.reasons == reasons


def test_error_item_fields_of_wrong_types_are_left_out():
    item = {
        "errorReason": "X",
        "syncEventId": {"not": "an id"},
        "sourceIssueKey": "AC-1",
        "message": ["not", "text"],
    }
    reading = interpret(SYNC_ERRORS, 200, "application/json", json.dumps([item]).encode())
    assert reading.errors == (ErrorItem(endpoint=SYNC_ERRORS, reason="X"),)


def test_error_messages_are_redacted_and_bounded():
    item = {"errorReason": "X", "message": "user jane.doe@example.com token eyJhbGciOi.eyJzdWIiOi.sig " + "m" * 5000}
    message = interpret(SYNC_ERRORS, 200, "application/json", json.dumps([item]).encode()).errors[0].message
    assert "jane.doe" not in message and "eyJ" not in message
    assert len(message) <= 2048


@pytest.mark.parametrize(
    ("content_type", "body", "expected"),
    [
        ("text/html; charset=utf-8", b"<html>login</html>", errors.UnexpectedContentType),
        ("text/plain", b"[]", errors.UnexpectedContentType),
        ("application/json", b"{}", errors.UnexpectedShape),
        ("application/json", b'"queue"', errors.UnexpectedShape),
        ("application/json", b"null", errors.UnexpectedShape),
        ("application/json", b"", errors.InvalidJson),
        ("application/json", b"[1, 2", errors.InvalidJson),
        ("application/json", b"\xff\xfe\x00garbage", errors.InvalidJson),
        ("application/json", b"[" * 100_000 + b"]" * 100_000, errors.InvalidJson),
    ],
)
def test_bad_200_answers(content_type, body, expected):
    with pytest.raises(expected) as caught:
        interpret(SYNC_REQUESTS, 200, content_type, body)
    assert caught.value.excerpt is None


@pytest.mark.parametrize(
    "content_type", ["application/json", "application/json;charset=UTF-8", "application/vnd.x+json", "", None]
)
def test_json_media_types_and_a_missing_one_are_accepted(content_type):
    assert interpret(SYNC_REQUESTS, 200, content_type, b"[1,2,3]").items == 3


@pytest.mark.parametrize(
    ("status", "content_type", "body", "expected", "error_type"),
    [
        (
            400,
            "text/plain",
            b"Connection `AllContent` not found. Seems like it was removed on the Destination side.",
            errors.ConnectionNotFound,
            "connection_not_found",
        ),
        (400, "application/json", b'{"message":"bad request"}', errors.HttpError, "http_error"),
        (401, "application/json", b'{"message":"incorrect credentials"}', errors.Unauthorized, "unauthorized"),
        (403, "application/json", b"", errors.Forbidden, "forbidden"),
        (302, "text/html", b"", errors.Redirect, "redirect"),
        (500, "application/json", b'{"message":"NullPointerException"}', errors.ServerError, "server_error"),
        (503, "text/html", b"<h1>down</h1>", errors.ServerError, "server_error"),
        (404, "text/html", b"not here", errors.HttpError, "http_error"),
        (204, "", b"", errors.HttpError, "http_error"),
    ],
)
def test_statuses(status, content_type, body, expected, error_type):
    with pytest.raises(expected) as caught:
        interpret(SYNC_REQUESTS, status, content_type, body)
    assert caught.value.error_type == error_type
    assert caught.value.status_code == status


def test_error_body_excerpt_is_short_redacted_and_one_line():
    body = ("Error for admin@example.com\n\nBearer eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.abc " + "x" * 400).encode()
    with pytest.raises(errors.ServerError) as caught:
        interpret(SYNC_REQUESTS, 500, "text/plain", body)
    excerpt = caught.value.excerpt
    assert excerpt is not None and len(excerpt) <= 256
    assert "\n" not in excerpt and "admin@example.com" not in excerpt and "eyJ" not in excerpt
    assert excerpt.startswith("Error for <email> Bearer <token>")


def test_binary_error_body_has_no_excerpt():
    with pytest.raises(errors.ServerError) as caught:
        interpret(SYNC_REQUESTS, 500, "application/octet-stream", b"\x00\xff\xfe\x80" * 10)
    assert caught.value.excerpt is None


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("https://sso.example.com/login?token=abc&return=/jira", "https://sso.example.com;"),
        ("https://admin:hunter2LOC@sso.example/login/alice@example.com/SESSIONTOKEN123", "https://sso.example;"),
        ("http://[::1]:8443/x", "http://[::1]:8443;"),
        ("/login/alice@example.com", "(a path on the same host)"),
        ("http://[::1", "(an unreadable Location header)"),
    ],
)
def test_redirect_names_only_the_scheme_and_host_of_the_target(location, shown):
    body = f'<a href="{location}">moved</a>'.encode()
    with pytest.raises(errors.Redirect) as caught:
        interpret(SYNC_REQUESTS, 302, "text/html", body, location=location)
    assert shown in caught.value.detail
    for secret in ("token=abc", "hunter2LOC", "admin", "alice", "SESSIONTOKEN123", "login"):
        assert secret not in caught.value.detail
        assert secret not in (caught.value.excerpt or "")


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        " [ ] ",
        "[1]",
        '[1, "a", {"b": [2, 3]}, null, true]',
        "\n[\n{}\n,\n{}\n]\n",
        "[1,]",
        "[,1]",
        "[1 2]",
        "[1",
        "[",
        "",
        "   ",
        "[1] x",
        "[] []",
        '{"a": 1}',
        '"s"',
        "1",
        "nul",
        "[{]",
        '[{"a":1,}]',
        "[NaN, Infinity]",
        "[1]\n\n",
        "\ufeff[1]",
    ],
)
def test_item_by_item_reading_agrees_with_json_loads(text):
    """iter_array counts exactly what json.loads would, and fails where and how json.loads fails."""
    from exalate_collector.json_scan import iter_array

    try:
        expected = json.loads(text)
    except json.JSONDecodeError as exc:
        with pytest.raises(json.JSONDecodeError) as caught:
            list(iter_array(text))
        assert (caught.value.msg, caught.value.pos) == (exc.msg, exc.pos)
        return
    if isinstance(expected, list):
        assert list(iter_array(text)) == expected
    else:
        with pytest.raises(errors.UnexpectedShape):
            list(iter_array(text))


@pytest.mark.parametrize("endpoint", [SYNC_ERRORS, "syncevents/syncrequests"])
def test_every_item_is_counted_and_at_most_max_kept_items_are_kept(endpoint):
    """A node answering a flood of tiny items costs counting, not memory."""
    from exalate_collector.answer_parsers import MAX_KEPT_ITEMS

    many = MAX_KEPT_ITEMS + 5
    body = json.dumps([{"syncEventId": i, "errorReason": "R"} for i in range(many)]).encode()
    reading = interpret(endpoint, 200, "application/json", body)
    assert reading.items == many
    if endpoint == SYNC_ERRORS:
        assert len(reading.errors) == MAX_KEPT_ITEMS and sum(reading.reasons.values()) == many
    else:
        assert len(reading.identities) == MAX_KEPT_ITEMS
