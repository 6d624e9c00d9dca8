"""integrations/: the committed dashboard is what its builder (grafana-foundation-sdk) prints."""

from __future__ import annotations

import json
import subprocess
import sys

from ..conftest import ROOT

GRAFANA = ROOT / "integrations" / "grafana"


def test_the_committed_dashboard_is_the_built_one():
    done = subprocess.run(
        [sys.executable, str(GRAFANA / "build.py")], capture_output=True, text=True, check=False, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == (GRAFANA / "exalate-collector.json").read_text(encoding="utf-8"), "run `make docs`"


def test_the_dashboard_has_the_node_and_relation_variables_and_every_panel_a_query():
    board = json.loads((GRAFANA / "exalate-collector.json").read_text(encoding="utf-8"))
    assert [v["name"] for v in board["templating"]["list"]] == ["datasource", "node", "relation"]
    panels = [p for p in board["panels"] if p["type"] != "row"]
    assert len(panels) == 12
    #: The whole node's figures of the 4.0 API have no relation: only the node narrows them.
    node_only = {"Node queue by direction", "Node errors"}
    for panel in panels:
        (target,) = panel["targets"]
        assert "exalate_" in target["expr"], panel["title"]
        if panel["title"] in node_only:
            assert "$node" in target["expr"] and "$relation" not in target["expr"], panel["title"]
        else:
            assert panel["title"] == "Run duration" or ("$node" in target["expr"] and "$relation" in target["expr"])
