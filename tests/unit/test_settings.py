"""The settings object: every environment variable of ours read and validated once, in one place."""

from __future__ import annotations

import re

import pytest
from exalate_collector.errors import ConfigError
from exalate_collector.settings import VARIABLES, Settings

from ..conftest import ROOT

LIBRARY = ROOT / "layers" / "lib" / "exalate_collector"


def test_unset_and_empty_variables_take_the_defaults():
    assert Settings.from_environment({}) == Settings()
    assert Settings.from_environment({name: "" for name in VARIABLES}) == Settings()
    assert Settings().deadline_margin_s == 5.0


def test_values_are_read_and_normalised():
    settings = Settings.from_environment(
        {
            "EXALATE_LOG_LEVEL": "debug",
            "EXALATE_DEADLINE_MARGIN_S": " 7.5 ",
            "ARCHIVE_BUCKET": "my-archive",
            "STATE_PREFIX": "state/prod/",
        }
    )
    assert (settings.log_level, settings.deadline_margin_s, settings.archive_bucket) == ("DEBUG", 7.5, "my-archive")
    assert settings.state_prefix == "state/prod/"


def test_the_former_margin_variable_is_still_read_and_the_new_one_wins():
    assert Settings.from_environment({"EXALATE_EXPORT_MARGIN_S": "12"}).deadline_margin_s == 12.0
    both = {"EXALATE_EXPORT_MARGIN_S": "12", "EXALATE_DEADLINE_MARGIN_S": "3"}
    assert Settings.from_environment(both).deadline_margin_s == 3.0


def test_every_bad_value_is_named_at_once():
    env = {
        "EXALATE_EXPORT_MARGIN_S": "12s",
        "EXALATE_LOG_LEVEL": "verbose",
        "ARCHIVE_BUCKET": "My_Bucket",
        "ARCHIVE_PREFIX": "/exalate/",
        "ARCHIVE_QUEUE_URL": "my-queue",
    }
    with pytest.raises(ConfigError) as caught:
        Settings.from_environment(env)
    assert sorted(caught.value.problems) == [
        "ARCHIVE_BUCKET: 'My_Bucket' is not an S3 bucket name (3 to 63 of a-z, 0-9, . and -)",
        "ARCHIVE_PREFIX: '/exalate/' is not a key prefix such as exalate/ (no leading /, no // or ..)",
        "ARCHIVE_QUEUE_URL: must be the queue's URL, https://sqs.<region>.amazonaws.com/...",
        "EXALATE_EXPORT_MARGIN_S: '12s' is not a number of seconds from 0 to 900",
        "EXALATE_LOG_LEVEL: 'verbose' is not one of DEBUG, INFO, WARNING, ERROR (any case)",
    ]


@pytest.mark.parametrize("url", ["my-queue", "http://[::1", "ftp://sqs.example/q"])
def test_a_malformed_queue_url_is_named_never_a_traceback(url):
    with pytest.raises(ConfigError, match="ARCHIVE_QUEUE_URL: must be the queue's URL"):
        Settings.from_environment({"ARCHIVE_QUEUE_URL": url})


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "901", "twelve"])
def test_the_margin_must_be_a_finite_number_of_seconds(value):
    with pytest.raises(ConfigError, match=f"EXALATE_DEADLINE_MARGIN_S: '{value}' is not a number of seconds"):
        Settings.from_environment({"EXALATE_DEADLINE_MARGIN_S": value})


def test_only_the_settings_module_reads_our_variables():
    names = "|".join(re.escape(name) for name in VARIABLES)
    read = re.compile(rf"""(environ|env)\s*(\.get\(|\[)\s*["']({names})["']|getenv\(\s*["']({names})["']""")
    readers = sorted(
        str(path.relative_to(LIBRARY))
        for path in LIBRARY.rglob("*.py")
        if read.search(path.read_text(encoding="utf-8"))
    )
    assert readers == []  # settings.py reads them through text(var), nowhere else by name
    source = (LIBRARY / "settings.py").read_text(encoding="utf-8")
    for name in VARIABLES:
        assert name in source or name in ("EXALATE_DEADLINE_MARGIN_S", "EXALATE_EXPORT_MARGIN_S")


def test_the_readme_lists_every_variable():
    readme = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")  # the README's table moved there
    assert [name for name in VARIABLES if f"| `{name}` |" not in readme] == []
