"""Against real Zabbix servers, 6.0 and 7.0 (Debian's packages, started and stopped here; every test runs on
both): the template imports through the API, discovery creates the items, the simulator's values are
stored, the triggers fire and resolve as the simulator changes, and TLS with certificates works.

Asynchronous effects (discovery, the configuration cache, history, problems) are awaited by polling
with deadlines, never by fixed sleeps. The server loads its configuration cache only when a test says so
(``reload_cache``), so the first runs are told as they happen: a host not loaded yet refuses everything
(and the message says so), then values of items that discovery has not created yet are refused, and
from the next load on everything is taken. Each server is stopped leaving no process, a failed test
included (``test_the_server_stops_leaving_no_process_when_a_test_fails``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

import pytest
from exalate_collector.config import parse_config
from exalate_collector.endpoints import SYNC_ERRORS, SYNC_REQUESTS
from exalate_collector.errors import ZabbixSendFailed
from exalate_collector.runner import RunResult, run
from exalate_collector.simulator import Behaviour, NodeSimulator
from exalate_collector.state.store import LocalStateStore
from exalate_collector.zabbix.template import TEMPLATE, import_rules

from ..conftest import ROOT
from . import tools
from . import zabbix_server as zs
from .conftest import SECRET

pytestmark = pytest.mark.zabbix

TEMPLATE_FILE = ROOT / "integrations" / "zabbix" / "exalate_node_by_collector.yaml"
#: Host TLS settings (Zabbix API): 1 unencrypted, 2 PSK, 4 certificate.
UNENCRYPTED, PSK, CERTIFICATE = 1, 2, 4


def _skip_loudly(why: str) -> NoReturn:
    message = (
        f"\n{'!' * 100}\nZABBIX INTEGRATION TEST SKIPPED: {why}.\n"
        f"`make zabbix-packages` (root, apt) installs: {zs.PACKAGES}; `make tools` unpacks the other version"
        f"\n{'!' * 100}"
    )
    print(message)
    pytest.skip(message)


def distribution(series: str) -> zs.Distribution:
    """Zabbix ``series`` on this machine, or a loud skip saying what is missing."""
    absent = zs.missing()
    if absent:
        _skip_loudly(f"not installed: {', '.join(absent)}")
    found = zs.distribution(series, lambda: tools.tool(f"zabbix-{series}").parents[2])
    if isinstance(found, str):
        _skip_loudly(found)
    absent = zs.missing(found)
    if absent:
        _skip_loudly(f"Zabbix {series}: not installed: {', '.join(absent)}")
    return found


@pytest.fixture(scope="module", params=zs.VERSIONS)
def zabbix(request) -> Iterator[zs.ZabbixServer]:
    with zs.zabbix_server(distribution(request.param)) as server:
        assert server.distribution.series == request.param
        yield server


@pytest.fixture(scope="module")
def api(zabbix):
    api = zabbix.api()
    assert str(api.api_version()) == zabbix.version  # the frontend is the server's version
    rules = import_rules(api.api_version())
    api.configuration.import_(format="yaml", source=TEMPLATE_FILE.read_text(encoding="utf-8"), rules=rules)
    yield api
    api.logout()


def create_host(api, name: str, tls_accept: int = UNENCRYPTED, **tls: str) -> str:
    template = api.template.get(filter={"host": TEMPLATE}, output=["templateid"])[0]["templateid"]
    groups = api.hostgroup.get(filter={"name": "Exalate nodes"}, output=["groupid"])
    group = groups[0]["groupid"] if groups else api.hostgroup.create(name="Exalate nodes")["groupids"][0]
    return api.host.create(
        host=name,
        groups=[{"groupid": group}],
        templates=[{"templateid": template}],
        tls_accept=tls_accept,
        tls_connect=1,
        **tls,
    )["hostids"][0]


def node_items_accepted(zabbix: zs.ZabbixServer, host: str, tls: dict | None = None) -> None:
    """Wait until the server's configuration cache knows the host (its heartbeat item takes a value)."""
    from exalate_collector.config import ZabbixConfig, ZabbixTls
    from exalate_collector.deadline import Deadline
    from exalate_collector.zabbix.mapping import HEARTBEAT, Value
    from exalate_collector.zabbix.sender import ZabbixOutput

    output = ZabbixOutput(ZabbixConfig("127.0.0.1", zabbix.trapper_port, 10, ZabbixTls(**tls) if tls else None))

    def accepted() -> bool | None:
        zabbix.reload_cache()
        import time

        processed, _, _ = output._send([Value(host, HEARTBEAT, str(int(time.time())), int(time.time()))], Deadline.NONE)
        return True if processed == 1 else None

    zs.poll(f"host {host} in the server's configuration cache", accepted, deadline_s=120, every_s=1.0)


def problems(api, hostid: str) -> set[str]:
    return {p["name"] for p in api.problem.get(hostids=[hostid], output=["name"])}


def history(api, hostid: str, key: str) -> list[str]:
    """The item's stored values, oldest first (by clock and ns: two runs may start in the same second)."""
    items = api.item.get(hostids=[hostid], filter={"key_": key}, output=["itemid", "value_type"])
    if not items:
        return []
    found = api.history.get(
        itemids=[items[0]["itemid"]], history=int(items[0]["value_type"]), sortfield="clock", sortorder="DESC", limit=50
    )
    return [h["value"] for h in sorted(found, key=lambda h: (int(h["clock"]), int(h["ns"])))]


def latest(api, hostid: str, key: str) -> str | None:
    values = history(api, hostid, key)
    return values[-1] if values else None


def zabbix_config(sim: NodeSimulator, zabbix: zs.ZabbixServer, **zabbix_extra) -> object:
    return parse_config(
        {
            "zabbix": {"server": "127.0.0.1", "port": zabbix.trapper_port, "timeout_s": 10, **zabbix_extra},
            "nodes": [
                {
                    "name": "jira-a",
                    "zabbix_host": "exalate-jira-a",
                    "base_url": sim.base_url,
                    "relations": ["AllContent", "GROOVY", "RemovedPartner"],
                    "auth": {"type": "jwt", "secret": SECRET},
                    "timeout_s": 5,
                },
                {  # the whole node through the 4.0 API too: per-node endpoints, totals, cmonitor, connections
                    "name": "jira-b",
                    "base_url": sim.base_url,
                    "relations": "auto",
                    "collect": ["relations", "queues", "errors", "connections"],
                    "auth": {"type": "jwt", "secret": SECRET},
                    "timeout_s": 5,
                },
            ],
        }
    )


def test_template_discovery_values_and_triggers_on_a_real_zabbix_server(zabbix, api, tmp_path: Path):
    host_a = create_host(api, "exalate-jira-a")
    host_b = create_host(api, "jira-b")
    for host in ("exalate-jira-a", "jira-b"):
        node_items_accepted(zabbix, host)
    state = LocalStateStore(tmp_path / "state")
    with NodeSimulator(["AllContent", "GROOVY"], secret=SECRET) as sim:
        config = zabbix_config(sim, zabbix)

        # Run 1: node items and discovery are taken; values of not-yet-discovered items may be refused.
        first = run(config, 30, None, None, state)
        assert first.zabbix is not None and first.zabbix.ok, first.zabbix
        assert first.zabbix.failed == sum(first.zabbix.pending.values())  # refusals only where discovery is new
        expected_keys = {
            "exalate.queue.size[AllContent,syncevents/syncrequests]",
            "exalate.sync.errors[AllContent,NO_ISSUE_TO_CONNECT_TO]",
            "exalate.relation.up[RemovedPartner]",
            "exalate.endpoint.up[RemovedPartner,syncevents/syncrequests]",
            "exalate.poll.errors[RemovedPartner,syncevents/syncrequests]",
            "exalate.queue.oldest_age[GROOVY,syncrequests/errorresponses]",
        }

        def discovered() -> set[str] | None:
            keys = {i["key_"] for i in api.item.get(hostids=[host_a], output=["key_"])}
            return keys if expected_keys <= keys else None

        keys_a = zs.poll("discovery to create the items", discovered, deadline_s=120)
        assert "exalate.relation.up[GROOVY]" in keys_a
        expected_b = {
            "exalate.endpoint.up[GROOVY,syncevents/syncrequests]",
            "exalate.endpoint.up[,4.0/syncevents]",  # a per-node 4.0 endpoint: no relation, an empty parameter
            "exalate.queue.total[outgoing]",
            "exalate.connection.status[GROOVY,ACTIVE]",
        }

        def discovered_b() -> set[str] | None:
            keys = {i["key_"] for i in api.item.get(hostids=[host_b], output=["key_"])}
            return keys if expected_b <= keys else None

        zs.poll("discovery of the 4.0 items", discovered_b, deadline_s=120)
        removed = "Relation RemovedPartner was removed on the other side"
        sync = "Sync errors NO_ISSUE_TO_CONNECT_TO on relation AllContent"

        def triggers() -> set[str] | None:  # discovery writes the triggers after the items
            found = {t["description"] for t in api.trigger.get(hostids=[host_a], output=["description"])}
            return found if {removed, sync} <= found else None

        zs.poll("discovery to create the triggers", triggers, deadline_s=120)

        # Run 2 (as often as it takes the server to load what discovery created): every value is taken.
        def all_taken() -> RunResult | None:
            zabbix.reload_cache()
            result = run(config, 30, None, None, state)
            assert result.zabbix is not None and result.zabbix.ok, result.zabbix
            return result if result.zabbix.failed == 0 else None

        second = zs.poll("the server to take every value", all_taken, deadline_s=180, every_s=1.0)
        assert second.zabbix is not None and second.zabbix.processed == second.zabbix.total > 50

        # The simulator's values are stored.
        queue = [
            p.value
            for p in second.telemetry.named("exalate.queue.size")
            if p.attributes["exalate.node"] == "jira-a"
            and p.attributes["exalate.relation"] == "AllContent"
            and p.attributes["exalate.endpoint"] == SYNC_REQUESTS
        ]
        assert queue == [1]
        zs.poll(
            "history of queue.size",
            lambda: latest(api, host_a, "exalate.queue.size[AllContent,syncevents/syncrequests]") == "1" or None,
        )
        zs.poll(
            "the 4.0 total stored", lambda: latest(api, host_b, "exalate.queue.total[outgoing]") is not None or None
        )
        zs.poll("cmonitor's error count stored", lambda: latest(api, host_b, "exalate.node.errors") is not None or None)
        zs.poll(
            "relation.up=0 stored", lambda: latest(api, host_a, "exalate.relation.up[RemovedPartner]") == "0" or None
        )
        zs.poll(
            "the error.type of the last failure",
            lambda: (
                latest(api, host_a, "exalate.poll.errors[RemovedPartner,syncevents/syncrequests]")
                == "connection_not_found"
                or None
            ),
        )
        log_entries = zs.poll("the error log item", lambda: history(api, host_a, "exalate.errors.log") or None)
        assert any(e.startswith("AC-113 NO_ISSUE_TO_CONNECT_TO [AllContent] Could not connect") for e in log_entries)

        # Problems: the removed relation and the sync errors.
        zs.poll("the problems", lambda: problems(api, host_a) if {removed, sync} <= problems(api, host_a) else None)

        # The error is fixed on the node; the next run resolves that problem and only that one.
        sim.set("AllContent", SYNC_ERRORS, Behaviour(body=b"[]"))
        sim.set("GROOVY", SYNC_ERRORS, Behaviour(body=b"[]"))
        third = run(config, 30, None, None, state)
        assert third.zabbix is not None and third.zabbix.ok and third.zabbix.failed == 0, third.zabbix
        assert latest_is(api, host_a, "exalate.sync.errors[AllContent,NO_ISSUE_TO_CONNECT_TO]", "0")
        left = zs.poll("the sync-errors problem to resolve", lambda: _without(problems(api, host_a), sync))
        assert removed in left


def latest_is(api, hostid: str, key: str, value: str) -> bool:
    return zs.poll(f"{key} = {value}", lambda: latest(api, hostid, key) == value or None)


def _without(found: set[str], name: str) -> set[str] | None:
    return found if name not in found else None


def test_a_missing_host_or_an_unreachable_server_is_zabbix_send_failed(zabbix, api):
    with NodeSimulator(["GROOVY"], secret=SECRET) as sim:
        config = parse_config(
            {
                "zabbix": {"server": "127.0.0.1", "port": zabbix.trapper_port},
                "nodes": [
                    {
                        "name": "jira-ghost",
                        "base_url": sim.base_url,
                        "relations": ["GROOVY"],
                        "auth": {"type": "jwt", "secret": SECRET},
                    }
                ],
            }
        )
        result = run(config, 30, None)
        assert result.zabbix_failed
        assert isinstance(result.zabbix.failure, ZabbixSendFailed)
        assert "host jira-ghost" in result.zabbix.failure.detail
        assert [p.attributes for p in result.telemetry.named("exalate.zabbix.failures")] == [
            {"error.type": "zabbix_send_failed"}
        ]
        assert [e.name for e in result.telemetry.events if e.name == "exalate.zabbix.failure"] == [
            "exalate.zabbix.failure"
        ]

        closed = parse_config(
            {
                **{"zabbix": {"server": "127.0.0.1", "port": zs.free_port(), "timeout_s": 2}},
                "nodes": [
                    {
                        "name": "jira-ghost",
                        "base_url": sim.base_url,
                        "relations": ["GROOVY"],
                        "auth": {"type": "jwt", "secret": SECRET},
                    }
                ],
            }
        )
        unreachable = run(closed, 30, None)
        assert unreachable.zabbix_failed and unreachable.zabbix.total == 0


def test_the_first_run_after_creating_the_host_says_the_server_has_not_loaded_it_yet(
    zabbix, api, monkeypatch, capsys, tmp_path
):
    """As the README says: template imported, host created with it, then ``run``. The host is in Zabbix's
    database but not yet in the server's configuration cache (loaded every CacheUpdateFrequency; here only
    when the test says so): run 1 is refused whole and says that. Once loaded, run 2's node items and
    discovery data are taken and the discovered items' values refused (they do not exist yet): exit 0,
    saying so. After discovery and the next load, every value is taken."""
    import json

    from exalate_collector.cli import main

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    hostid = create_host(api, "jira-first")
    linked = api.host.get(hostids=[hostid], selectParentTemplates=["host"], output=["host", "status"])
    assert [(h["host"], h["status"], [t["host"] for t in h["parentTemplates"]]) for h in linked] == [
        ("jira-first", "0", [TEMPLATE])  # status 0: monitored
    ]
    with NodeSimulator(["GROOVY"], secret=SECRET) as sim:
        node = {"name": "jira-first", "base_url": sim.base_url, "relations": ["GROOVY"], "timeout_s": 5}
        node["auth"] = {"type": "jwt", "secret": SECRET}
        config = tmp_path / "exalate.json"
        config.write_text(json.dumps({"zabbix": {"server": "127.0.0.1", "port": zabbix.trapper_port}, "nodes": [node]}))
        args = ["run", "--config", str(config), "--no-archive", "--state-dir", str(tmp_path / "state")]

        assert main(args) == 1
        out, err = capsys.readouterr()
        assert "zabbix: host jira-first took none of its values: the server does not know it, or not yet." in out
        assert "zabbix_server -R config_cache_reload" in out
        assert "zabbix_send_failed: Zabbix 127.0.0.1:" in err and "host jira-first: all " in err
        assert "Just created, or the template just linked: not loaded yet (CacheUpdateFrequency" in err

        node_items_accepted(zabbix, "jira-first")  # the server has loaded the host (a heartbeat is taken)
        assert main(args) == 0
        out, err = capsys.readouterr()
        assert "took none of its values" not in out and "zabbix_send_failed" not in err
        assert "values of newly discovered items were refused: Zabbix creates those items" in out
        assert "failed 0," not in out

        zs.poll(
            "discovery to create the items",
            lambda: api.item.get(hostids=[hostid], search={"key_": "exalate.queue.size["}, output=["key_"]) or None,
        )

        def all_taken() -> str | None:
            zabbix.reload_cache()
            code = main(args)
            out = capsys.readouterr().out
            assert code == 0, out
            return out if "failed 0," in out else None

        last = zs.poll("the server to take every value", all_taken, deadline_s=180, every_s=1.0)
        assert "refused" not in last


def test_a_host_lacking_some_of_the_template_s_items_is_told_apart_from_an_unknown_one(zabbix, api):
    """The host is loaded and takes its heartbeat, but has none of the template's other items (as with a
    template older than the collector): some values are refused, and the message says that, not 'unknown'."""
    from exalate_collector.zabbix.mapping import HEARTBEAT

    groups = api.hostgroup.get(filter={"name": "Exalate nodes"}, output=["groupid"])
    group = groups[0]["groupid"] if groups else api.hostgroup.create(name="Exalate nodes")["groupids"][0]
    hostid = api.host.create(host="jira-partial", groups=[{"groupid": group}])["hostids"][0]
    api.item.create(hostid=hostid, name="heartbeat", key_=HEARTBEAT, type=2, value_type=3)  # trapper, unsigned
    node_items_accepted(zabbix, "jira-partial")
    with NodeSimulator(["GROOVY"], secret=SECRET) as sim:
        node = {"name": "jira-partial", "base_url": sim.base_url, "relations": ["GROOVY"]}
        node["auth"] = {"type": "jwt", "secret": SECRET}
        config = parse_config({"zabbix": {"server": "127.0.0.1", "port": zabbix.trapper_port}, "nodes": [node]})
        result = run(config, 30, None)
    assert result.zabbix is not None and isinstance(result.zabbix.failure, ZabbixSendFailed)
    assert result.zabbix.unknown_hosts == []
    detail = result.zabbix.failure.detail
    assert "values of node items and discovery refused: the host lacks some of the template's items" in detail
    assert "older than this collector: import it again" in detail and "all " not in detail
    assert 0 < result.zabbix.processed < result.zabbix.total


def test_tls_with_certificates(zabbix, api):
    create_host(api, "exalate-jira-tls", tls_accept=CERTIFICATE)
    assert zabbix.tls_dir is not None
    tls = {
        "ca_file": str(zabbix.tls_dir / "ca.pem"),
        "cert_file": str(zabbix.tls_dir / "client.pem"),
        "key_file": str(zabbix.tls_dir / "client.key"),
    }
    node_items_accepted(zabbix, "exalate-jira-tls", tls)
    with NodeSimulator(["GROOVY"], secret=SECRET) as sim:
        nodes = [
            {
                "name": "jira-tls",
                "zabbix_host": "exalate-jira-tls",
                "base_url": sim.base_url,
                "relations": ["GROOVY"],
                "auth": {"type": "jwt", "secret": SECRET},
            }
        ]
        encrypted = run(
            parse_config({"zabbix": {"server": "127.0.0.1", "port": zabbix.trapper_port, "tls": tls}, "nodes": nodes}),
            30,
            None,
        )
        assert encrypted.zabbix is not None and encrypted.zabbix.ok, encrypted.zabbix
        assert encrypted.zabbix.processed > 0
        # The host accepts certificates only: the same values in the clear are refused.
        clear = run(
            parse_config({"zabbix": {"server": "127.0.0.1", "port": zabbix.trapper_port}, "nodes": nodes}), 30, None
        )
        assert clear.zabbix_failed


def test_the_demo_sends_to_zabbix_when_one_is_configured(zabbix, api, monkeypatch, capsys, tmp_path):
    from exalate_collector.cli import DEMO_ZABBIX_VAR, main

    for host in ("jira-demo", "jira-auto"):
        create_host(api, host)
        node_items_accepted(zabbix, host)
    monkeypatch.setenv(DEMO_ZABBIX_VAR, f"127.0.0.1:{zabbix.trapper_port}")
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT", raising=False)
    code = main(["demo", "--no-archive", "--state-dir", str(tmp_path / "state")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"sending to Zabbix 127.0.0.1:{zabbix.trapper_port}, hosts jira-demo and jira-auto" in out
    assert out.count("zabbix: processed") == 2


#: Sends one heartbeat over TLS-PSK from another interpreter (the ssl PSK callbacks are Python 3.13+).
PSK_SENDER = """
import json, sys, time
from exalate_collector.deadline import Deadline
from exalate_collector.node_config import ZabbixConfig, ZabbixTls
from exalate_collector.zabbix.mapping import HEARTBEAT, Value
from exalate_collector.zabbix.sender import ZabbixOutput
port, host = int(sys.argv[1]), sys.argv[2]
tls = ZabbixTls(psk_identity="exalate-psk", psk="${ZABBIX_PSK}")
output = ZabbixOutput(ZabbixConfig("127.0.0.1", port, 10, tls))
now = int(time.time())
print(json.dumps(output._send([Value(host, HEARTBEAT, str(now), now)], Deadline.NONE)))
"""


def python_with_psk() -> str | None:
    """An interpreter whose ssl has PSK callbacks (3.13+), e.g. the Lambda runtime's version."""
    import glob
    import shutil
    import subprocess

    found = [shutil.which(f"python3.{minor}") for minor in range(13, 20)]
    found += sorted(glob.glob(str(Path.home() / ".pyenv" / "versions" / "3.1[3-9]*" / "bin" / "python3")))
    probe = "import ssl, sys; sys.exit(0 if hasattr(ssl.SSLContext, 'set_psk_client_callback') else 1)"
    for python in filter(None, found):
        if subprocess.run([python, "-c", probe], check=False, capture_output=True).returncode == 0:
            return python
    return None


def test_psk_on_python_3_13(zabbix, api, tmp_path):
    import json
    import secrets
    import subprocess

    import zabbix_utils

    python = python_with_psk()
    if python is None:
        pytest.skip("PSK: no Python 3.13+ interpreter here (its ssl has the PSK callbacks); certificates are tested")
    key = secrets.token_hex(32)
    create_host(api, "exalate-jira-psk", PSK, tls_psk_identity="exalate-psk", tls_psk=key)
    # The library and zabbix_utils (pure Python) for the other interpreter, nothing else.
    (tmp_path / "zabbix_utils").symlink_to(Path(zabbix_utils.__file__).parent)
    env = {"PYTHONPATH": f"{ROOT / 'layers' / 'lib'}:{tmp_path}", "ZABBIX_PSK": key, "PATH": "/usr/bin:/bin"}

    def sent() -> list[int] | None:
        zabbix.reload_cache()
        done = subprocess.run(
            [python, "-c", PSK_SENDER, str(zabbix.trapper_port), "exalate-jira-psk"],
            check=True,
            capture_output=True,
            env=env,
            timeout=60,
        )
        answer = json.loads(done.stdout)
        return answer if answer[0] == 1 else None

    assert zs.poll("a value over TLS-PSK", sent, deadline_s=120, every_s=1.0) == [1, 0, 1]


class _TestFailed(Exception):
    pass


@pytest.mark.parametrize("series", zs.VERSIONS)
def test_the_server_stops_leaving_no_process_when_a_test_fails(series):
    """A failing test inside ``zabbix_server()``: every process of the server, the API and PostgreSQL ends
    (a SIGTERM to the server alone stops its children in order; on 7.0 a group kill left them running)."""
    found = distribution(series)
    started: set[zs.Process] = set()
    with pytest.raises(_TestFailed), zs.zabbix_server(found) as server:

        def forked() -> dict[zs.Process, str] | None:  # the trapper port opens before the children start
            found = zs.alive(zs.tree(server.processes[0].pid))
            return found if sum(command == "zabbix_server" for command in found.values()) > 10 else None

        zs.poll("the server's processes", forked)
        assert len(zs.tree(server.sessions[0])) > 3  # the postmaster and its workers
        started = set().union(*(zs.tree(leader) for leader in [*(p.pid for p in server.processes), *server.sessions]))
        raise _TestFailed
    assert len(started) > 15
    assert zs.alive(started) == {}
    assert all(process.returncode is not None for process in server.processes)
    assert not server.root.exists()
