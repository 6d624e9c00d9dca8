"""The Zabbix output through the CLI when the server is not there (no Zabbix packages needed)."""

from __future__ import annotations

import json

from exalate_collector.cli import main

from .conftest import SECRET, free_port


def test_an_unreachable_zabbix_server_is_zabbix_send_failed_and_exit_1(simulator, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    config = tmp_path / "exalate.json"
    config.write_text(
        json.dumps(
            {
                "zabbix": {"server": "127.0.0.1", "port": free_port(), "timeout_s": 2},
                "nodes": [
                    {
                        "name": "jira-prod",
                        "base_url": simulator.base_url,
                        "relations": ["AllContent"],
                        "auth": {"type": "jwt", "secret": SECRET},
                    }
                ],
            }
        )
    )
    code = main(["run", "--config", str(config), "--no-archive", "--no-state"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "zabbix_send_failed: Zabbix 127.0.0.1:" in err and "host jira-prod: ProcessingError: Couldn't connect" in err
    assert "zabbix: processed 0, failed 0, total 0" in out
    logged = [line for line in err.splitlines() if "zabbix send failed (error.type=zabbix_send_failed)" in line]
    assert len(logged) == 1 and " ERROR " in logged[0]  # the log line, besides the exit message


def test_new_errors_not_delivered_to_zabbix_are_reported_again_next_run(simulator, tmp_path):
    from exalate_collector.config import parse_config
    from exalate_collector.runner import run
    from exalate_collector.state.store import LocalStateStore

    node = {"name": "jira-prod", "base_url": simulator.base_url, "relations": ["AllContent"], "timeout_s": 5}
    node["auth"] = {"type": "jwt", "secret": SECRET}
    config = parse_config({"zabbix": {"server": "127.0.0.1", "port": free_port(), "timeout_s": 2}, "nodes": [node]})
    state = LocalStateStore(tmp_path / "state")
    first = run(config, 10, None, None, state)
    second = run(config, 10, None, None, state)
    assert first.zabbix_failed and second.zabbix_failed
    for result in (first, second):  # the log item never got it: the error is still new
        assert [e.name for e in result.telemetry.events if e.name == "exalate.sync.error"] == ["exalate.sync.error"]
