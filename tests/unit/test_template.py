"""template.yaml, read as CloudFormation reads it: the IAM statements, lifecycle rules and alarms that
issue 10 asks for are there, and agree with the code (prefixes, metric names)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from exalate_collector.archive.archiver import DEFAULT_NAMESPACE, FAILURE_METRIC
from exalate_collector.state.store import DEFAULT_PREFIX

from ..conftest import ROOT


class CfnLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (!Ref, !Sub, !If, ...) as their long forms."""


def _tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


CfnLoader.add_multi_constructor("!", _tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return yaml.load((ROOT / "template.yaml").read_text(), Loader=CfnLoader)  # a SafeLoader


def statements(template: dict[str, Any], function: str) -> dict[str, tuple[dict[str, Any], str | None]]:
    """Sid -> (statement, the condition it depends on) of a function's inline policy."""
    found = {}
    for policy in template["Resources"][function]["Properties"]["Policies"]:
        for entry in policy["Statement"]:
            condition, statement = None, entry
            if "Fn::If" in entry:
                condition, statement, otherwise = entry["Fn::If"]
                assert otherwise == {"Ref": "AWS::NoValue"}
            found[statement["Sid"]] = (statement, condition)
    return found


def actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_list_bucket_only_under_the_state_prefix(template):
    collector = statements(template, "CollectorFunction")
    statement, condition = collector["TellMissingStateFromRefused"]
    assert condition is None and actions(statement) == ["s3:ListBucket"] and statement["Effect"] == "Allow"
    assert statement["Resource"] == {"Fn::GetAtt": ["ArchiveBucket", "Arn"]}
    assert statement["Condition"] == {"StringLike": {"s3:prefix": [f"{DEFAULT_PREFIX}*"]}}
    env = template["Resources"]["CollectorFunction"]["Properties"]["Environment"]["Variables"]
    assert env["STATE_PREFIX"] == DEFAULT_PREFIX
    for function in ("CollectorFunction", "ArchiverFunction"):
        for sid, (item, _) in statements(template, function).items():
            if "s3:ListBucket" in actions(item) or "s3:*" in actions(item):
                assert sid == "TellMissingStateFromRefused", f"{function} {sid} lists more than the state"


def test_referenced_ssm_parameters_and_their_key_can_be_read_and_nothing_else(template):
    parameters = template["Parameters"]
    assert parameters["SecretParameterArns"]["Type"] == "CommaDelimitedList"
    assert parameters["SecretParameterArns"]["Default"] == ""
    collector = statements(template, "CollectorFunction")
    statement, condition = collector["ReadNodeSecretParameters"]
    assert condition == "HasSecretParameters"
    assert actions(statement) == ["ssm:GetParameter"] and statement["Resource"] == {"Ref": "SecretParameterArns"}
    decrypt, condition = collector["DecryptNodeSecrets"]
    assert condition == "HasSecretsKey" and actions(decrypt) == ["kms:Decrypt"]
    assert decrypt["Resource"] == {"Ref": "SecretsKmsKeyArn"}
    via = decrypt["Condition"]["StringEquals"]["kms:ViaService"]
    assert via == [
        {"Fn::Sub": "secretsmanager.${AWS::Region}.amazonaws.com"},
        {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"},
    ]
    secrets, condition = collector["ReadNodeSecrets"]
    assert condition == "HasJwtSecrets" and secrets["Resource"] == {"Ref": "JwtSecretArns"}
    for sid, (item, _) in collector.items():
        if any(a.startswith(("ssm:", "secretsmanager:", "kms:Decrypt")) for a in actions(item)):
            assert item["Resource"] != "*", sid


def test_expired_archive_versions_do_not_outlive_archive_expiration_days(template):
    rules = template["Resources"]["ArchiveBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    (rule,) = [r for r in rules if r.get("Prefix") == {"Ref": "ArchivePrefix"} and "ExpirationInDays" in r]
    assert rule["Status"] == {"Fn::If": ["Expire", "Enabled", "Disabled"]}
    assert rule["ExpirationInDays"] == {"Fn::If": ["Expire", {"Ref": "ArchiveExpirationDays"}, 3650]}
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert template["Conditions"]["Expire"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "ArchiveExpirationDays"}, 0]}]}
    versioning = template["Resources"]["ArchiveBucket"]["Properties"]["VersioningConfiguration"]
    assert versioning == {"Status": "Enabled"}  # why the rule is needed


def test_archiver_failures_reach_an_alarm(template):
    env = template["Resources"]["ArchiverFunction"]["Properties"]["Environment"]["Variables"]
    alarm = template["Resources"]["ArchiveFailuresAlarm"]["Properties"]
    assert env["POWERTOOLS_METRICS_NAMESPACE"] == alarm["Namespace"] == DEFAULT_NAMESPACE
    assert alarm["MetricName"] == FAILURE_METRIC and "Dimensions" not in alarm  # the total, every ErrorType
    assert alarm["Statistic"] == "Sum" and alarm["Threshold"] == 1
