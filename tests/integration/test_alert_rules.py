"""The Prometheus alert rules in integrations/: valid for promtool, and their unit tests pass."""

from __future__ import annotations

import subprocess

import yaml

from ..conftest import ROOT
from .tools import tool

RULES = ROOT / "integrations" / "prometheus" / "exalate-alerts.yaml"
RULE_TESTS = ROOT / "integrations" / "prometheus" / "exalate-alerts.test.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(tool("promtool")), *args], capture_output=True, text=True, timeout=120, check=False)


def test_promtool_checks_the_rules():
    done = promtool("check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 11 rules found" in done.stdout


def test_promtool_unit_tests_of_the_rules_pass():
    done = promtool("test", "rules", str(RULE_TESTS))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


def test_every_rule_has_a_summary_a_runbook_and_a_unit_test():
    rules = [r for group in yaml.safe_load(RULES.read_text())["groups"] for r in group["rules"]]
    assert {r["alert"] for r in rules} == {
        "ExalateRelationRemoved",
        "ExalateAuthenticationFailing",
        "ExalateEndpointDown",
        "ExalateSyncErrors",
        "ExalateBlobErrors",
        "ExalateQueueStuck",
        "ExalateQueueOldestItem",
        "ExalateNodeErrors",
        "ExalateNodeQueueNotDraining",
        "ExalateConnectionNotActive",
        "ExalateCollectorSilent",
    }
    for rule in rules:
        assert rule["annotations"]["summary"] and rule["annotations"]["runbook"], rule["alert"]
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    firing = {t["alertname"] for test in tests for t in test["alert_rule_test"] if t["exp_alerts"]}
    assert firing == {r["alert"] for r in rules}  # each rule is shown to fire on synthetic series


def test_the_authentication_alert_covers_every_credential_error_type():
    """Every error.type of an authentication failure (errors.py), login_failed included, and no other."""
    import re

    from exalate_collector import errors

    rules = {r["alert"]: r for group in yaml.safe_load(RULES.read_text())["groups"] for r in group["rules"]}
    found = re.search(r'error_type=~"([^"]+)"', rules["ExalateAuthenticationFailing"]["expr"])
    assert found
    credential = {cls.error_type for cls in errors.poll_failure_types() if cls.authentication}
    assert set(found[1].split("|")) == credential
    assert "login_failed" in credential
