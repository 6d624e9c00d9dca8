"""Redaction: by knowledge (every credential the process holds, in every encoding), then by pattern;
what ordinary text keeps; the log filter; OTLP headers as JSON or name=value, never echoed."""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Callable, Iterator
from urllib.parse import quote

import pytest
from exalate_collector import redact
from exalate_collector.auth_schemes import authenticator_for
from exalate_collector.config import AuthConfig
from exalate_collector.deadline import Deadline
from exalate_collector.errors import ConfigError
from exalate_collector.logs import QUIET, JsonFormatter, TextFormatter, pin_library_loggers
from exalate_collector.telemetry.otel import canonical_headers, otlp_headers, parse_headers
from exalate_collector.telemetry.points import Event, Point

TOKEN = "static-token-0123456789"
PASSWORD = "pa55-w0rd!x"
JWT_SECRET = "a-shared-jwt-secret-of-32-bytes!"


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    redact.forget_all()
    yield
    redact.forget_all()


def test_a_known_token_is_removed_in_every_encoding():
    redact.remember(TOKEN + "/+=")
    value = TOKEN + "/+="
    for text in (value, quote(value, safe=""), quote(value, safe="-_.~"), f"x{value}y"):
        assert TOKEN not in redact.scrub(f"echo: {text}")
        assert "<secret>" in redact.scrub(f"echo: {text}")


def test_the_basic_pair_is_removed_plain_and_in_base64():
    redact.remember_basic("monitoring", PASSWORD)
    pair = base64.b64encode(f"monitoring:{PASSWORD}".encode()).decode()
    for text in (f"Authorization: Basic {pair}", f"user monitoring:{PASSWORD}", f"pw {PASSWORD}", pair):
        cleaned = redact.scrub(text)
        assert PASSWORD not in cleaned and pair not in cleaned


def test_authenticators_register_what_they_send():
    resolve = {"${T}": TOKEN, "${U}": "monitoring", "${P}": PASSWORD, "${S}": JWT_SECRET}.__getitem__
    authenticator_for(AuthConfig(type="token", token="${T}", send_as="query"), resolve)
    authenticator_for(AuthConfig(type="basic", username="${U}", password="${P}"), resolve)
    jwt_auth = authenticator_for(AuthConfig(type="jwt", secret="${S}", qsh=True), resolve)
    minted = jwt_auth.sign("/rest/x", {}).headers["Authorization"].split(" ", 1)[1]
    text = f"{TOKEN} {PASSWORD} {JWT_SECRET} {minted[:40]}.{minted[40:]}" + minted
    cleaned = redact.scrub(text)
    for secret in (TOKEN, PASSWORD, JWT_SECRET, minted):
        assert secret not in cleaned


@pytest.mark.parametrize("cut", [3, 10, len(TOKEN) - 1])
def test_an_excerpt_never_ends_in_half_a_credential(cut):
    redact.remember(TOKEN)
    body = ("ok" + " " * (1022 - cut) + TOKEN + " tail" * 100).encode()  # the window ends inside the token
    assert redact.excerpt(body) == "ok"  # whitespace folds: without care the excerpt would end in TOKEN[:cut]


def test_short_values_are_not_searched_for():
    redact.remember("abc")
    assert redact.scrub("abc abcdef") == "abc abcdef"


def test_scrub_bytes_leaves_other_bytes_as_they_are():
    redact.remember(TOKEN)
    body = b'{"echo": "' + TOKEN.encode() + b'", "x": "\xc3\xa9"}'
    assert redact.scrub_bytes(body) == b'{"echo": "<secret>", "x": "\xc3\xa9"}'
    untouched = b"no credential here"
    assert redact.scrub_bytes(untouched) is untouched


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("Authorization: Bearer abcdEFGH1234", "abcdEFGH1234"),
        ("Authorization: JWT abcdEFGH1234", "abcdEFGH1234"),
        ("Basic bW9uaXRvcmluZzpodW50ZXIy", "bW9uaXRvcmluZzpodW50ZXIy"),
        ("Basic%20bW9uaXRvcmluZzpodW50ZXIy", "bW9uaXRvcmluZzpodW50ZXIy"),
        ("token eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJ4In0.c2lnbmF0dXJl", "eyJpc3MiOiJ4In0"),
        ("GET /x?jwt=abc.def.ghi&a=1", "abc.def.ghi"),
        ("password=hunter2 and more", "hunter2"),
        ('{"password": "hunter2"}', "hunter2"),
        ("passwd: hunter2", "hunter2"),
        ("token=abc123; secret=xyz789", "abc123"),
        ("token=abc123; secret=xyz789", "xyz789"),
        ("api_key=K3Y-value", "K3Y-value"),
        ("key AKIAIOSFODNN7EXAMPLE here", "AKIAIOSFODNN7EXAMPLE"),
        ("https://admin:URLPASSWORD@jira.example.com/jira", "URLPASSWORD"),
        ("ftp://user@files.example", "user@"),
    ],
)
def test_credential_patterns(text, gone):
    assert gone not in redact.scrub(text)
    assert gone not in redact.redact(text)


@pytest.mark.parametrize(
    ("text", "gone"),
    [
        ("call +49 170 1234567 now", "1234567"),
        ("call (555) 123-4567 now", "123-4567"),
        ("call 0170 123 4567 now", "123 4567"),
        ("from alice@example.com", "alice"),
        ("payload " + "QUJD" * 40, "QUJDQUJD"),
    ],
)
def test_personal_data_patterns_in_free_text(text, gone):
    assert gone not in redact.redact(text)


@pytest.mark.parametrize(
    "text",
    [
        "sync error NO_ISSUE_TO_CONNECT_TO on issue AC-113 (id 11742)",
        "at 2026-11-28 05:30:00 from 192.168.100.200:8080",
        "syncEventId 1795800000123, 12 items, version 2.4.1",
        "GET syncrequests/errorresponses of relation AllContent failed (server_error): the node failed with HTTP 500",
    ],
)
def test_ordinary_text_is_kept(text):
    assert redact.redact(text) == text


def test_events_and_points_are_scrubbed_when_made():
    redact.remember(TOKEN)
    event = Event(
        "exalate.poll.failure", "WARN", f"echo {TOKEN} to bob@example.com", {"url.full": f"x?{TOKEN}", "n": 1}
    )
    assert TOKEN not in event.body and "bob@" not in event.body
    assert event.attributes == {"url.full": "x?<secret>", "n": 1}
    point = Point("exalate.sync.errors", 1, {"exalate.error.reason": f"BAD {TOKEN}"})
    assert point.attributes["exalate.error.reason"] == "BAD <secret>"


@pytest.mark.parametrize("formatter", [TextFormatter(), JsonFormatter()], ids=["text", "json"])
def test_the_log_filter_scrubs_message_arguments_fields_and_tracebacks(formatter):
    redact.remember(TOKEN)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    handler.addFilter(redact.RedactingFilter())
    logger = logging.getLogger("test.redact")
    logger.addHandler(handler)
    try:
        logger.warning("token %s in %s", TOKEN, "Bearer abcdEFGH1234", extra={"url": f"http://x/?jwt={TOKEN}"})
        try:
            raise ValueError(f"bad {TOKEN}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    written = stream.getvalue()
    assert TOKEN not in written and "abcdEFGH1234" not in written
    assert "ValueError: bad <secret>" in written.replace('\\"', '"')


def test_library_loggers_stay_above_debug():
    logging.getLogger("botocore").setLevel(logging.DEBUG)
    pin_library_loggers()
    for name, level in QUIET.items():
        assert logging.getLogger(name).level >= level
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG)


@pytest.mark.parametrize(
    "text",
    [
        '{"dd-api-key": "k3y-value-123", "X-Other": "a b=c"}',
        "dd-api-key=k3y-value-123,x-other=a%20b%3Dc",
        " dd-api-key = k3y-value-123 , x-other=a%20b=c ",
    ],
)
def test_otlp_headers_as_json_or_name_value(text):
    headers = parse_headers(text, "OTEL_EXPORTER_OTLP_HEADERS")
    assert headers == {"dd-api-key": "k3y-value-123", "x-other": "a b=c"}
    assert parse_headers(canonical_headers(headers), "v") == headers
    assert "k3y-value-123" not in redact.scrub("sent k3y-value-123")


def test_otlp_header_credentials_are_registered_alone_too():
    parse_headers("Authorization=Basic%20aW5zdGFuY2U6dG9rZW4x", "OTEL_EXPORTER_OTLP_HEADERS")
    assert redact.scrub("aW5zdGFuY2U6dG9rZW4x") == "<secret>"


def test_signal_headers_win_over_the_generic_ones():
    found = otlp_headers({"OTEL_EXPORTER_OTLP_HEADERS": "a=1", "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "b=2"})
    assert found == {"metrics": {"a": "1"}, "logs": {"b": "2"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"dd-api-key": "SECRETVALUE1"', "looks like a JSON object but is not valid JSON"),
        ('{"dd-api-key": ["SECRETVALUE1"]}', "must map header names to string values"),
        ("dd-api-key=SECRETVALUE1,SECRETVALUE2", "item 2 is not name=value"),
        ("bad name=SECRETVALUE1", "header 1 has no valid name"),
    ],
)
def test_malformed_otlp_headers_are_named_never_echoed(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_headers(text, "OTEL_EXPORTER_OTLP_HEADERS")
    assert message in str(caught.value) and "OTEL_EXPORTER_OTLP_HEADERS" in str(caught.value)
    assert "SECRETVALUE" not in str(caught.value)


def test_the_aws_client_factory_pins_botocore_whoever_configured_logging(monkeypatch):
    from exalate_collector import aws

    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    aws.forget_clients()
    logging.getLogger("botocore").setLevel(logging.DEBUG)  # e.g. an embedding application's choice
    aws.client("s3", Deadline.NONE)
    assert not logging.getLogger("botocore").isEnabledFor(logging.DEBUG)
    aws.forget_clients()


@pytest.mark.parametrize("piece", [1, 2, 5, 17, 64, 4096])
def test_a_body_scrubbed_slice_by_slice_is_the_body_scrubbed_whole(piece):
    secret = "a-credential-the-node-echoed-0123456789"
    redact.remember(secret)
    body = (b"x" * 50 + secret.encode() + b"y" * 7) * 5 + secret.encode()
    slices = [body[i : i + piece] for i in range(0, len(body), piece)]
    scrubbed = b"".join(redact.scrub_chunks(slices))
    assert scrubbed == redact.scrub_bytes(body) and secret.encode() not in scrubbed


def _minter() -> Callable[[str], str]:
    auth = authenticator_for(AuthConfig(type="jwt", secret="${S}", qsh=True), {"${S}": JWT_SECRET}.__getitem__)
    return lambda path: auth.sign(path, {}).headers["Authorization"].split(" ", 1)[1]


def _minted(qsh_path: str = "/rest/x") -> str:
    return _minter()(qsh_path)


def test_a_minted_token_is_redacted_wherever_it_appears_whole():
    minted = _minted()
    texts = [
        minted,
        f"echo: Authorization: JWT {minted}",
        f"GET /rest/x?jwt={minted}&a=1",
        f'{{"jwt":"{minted}"}}',
        f"xx{minted}yy",  # inside a longer base64url run: no pattern could find it there
        f"{minted}.{minted}",
    ]
    for text in texts:
        assert minted not in redact.scrub(text), text
        assert minted not in redact.redact(text), text
        assert minted not in redact.scrub_value(text), text
        assert minted.encode() not in redact.scrub_bytes(text.encode()), text
    assert redact.scrub_bytes(f"a{minted}b".encode()) == b"a<secret>b"  # by knowledge: the rest kept as it is


@pytest.mark.parametrize("piece", [1, 3, 7, 40, 100, 4096])
def test_a_minted_token_cut_by_the_slicing_of_a_body_is_found(piece):
    minted = _minted()
    body = (b"x" * 50 + minted.encode() + b"eyJ" + b"y" * 7) * 4 + minted.encode()
    slices = [body[i : i + piece] for i in range(0, len(body), piece)]
    scrubbed = b"".join(redact.scrub_chunks(slices))
    assert scrubbed == redact.scrub_bytes(body) and minted.encode() not in scrubbed
    assert scrubbed.count(b"<secret>") == 5


@pytest.mark.parametrize("cut", [3, 20, 100])
def test_an_excerpt_never_ends_in_half_a_minted_token(cut):
    minted = _minted()
    body = ("ok" + " " * (1022 - cut) + minted + " tail" * 100).encode()  # the window ends inside the token
    assert redact.excerpt(body) == "ok"


def test_minting_tokens_never_recompiles_the_search_nor_loses_old_ones():
    redact.remember(TOKEN)
    mint = _minter()
    pattern, _ = redact._KNOWN.compiled()
    version = redact._KNOWN.version
    minted = [mint(f"/rest/x{i}") for i in range(300)]  # more than the old limit of 256
    assert redact._KNOWN.compiled()[0] is pattern and redact._KNOWN.version == version
    text = " ".join(minted) + " " + TOKEN
    cleaned = redact.scrub(text)
    assert cleaned == " ".join(["<secret>"] * 301)


def test_only_the_latest_tokens_are_kept(monkeypatch):
    monkeypatch.setattr(redact, "MAX_TOKENS", 3)
    minted = [_minted(f"/rest/x{i}") for i in range(5)]
    assert redact._KNOWN.tokens == set(minted[2:])
    assert redact.scrub_bytes(minted[0].encode()) == minted[0].encode()  # forgotten: the patterns remain
    assert redact.scrub(minted[0]) == "<token>"


def test_a_login_token_that_is_no_jwt_is_remembered_like_a_secret():
    redact.remember_token("personal-access-token-0123")
    assert redact.scrub("echo personal-access-token-0123!") == "echo <secret>!"
