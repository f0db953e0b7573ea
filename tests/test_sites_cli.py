"""The sites commands end to end: add a site, ingest two dates, detect, changes, eval."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from imint.cli import app
from imint.sites.synthetic import make_port_pair

runner = CliRunner()


def test_site_scene_detect_changes_commands(tmp_path):
    ws = str(tmp_path / "ws")
    first, second, truth = make_port_pair(tmp_path / "port", width=512, height=512, n_ships=8)
    r = runner.invoke(
        app, ["sites", "add", "Golden Horn", "--place", "Vladivostok", "--radius", "8000", "-w", ws]
    )
    assert r.exit_code == 0, r.output
    assert "Vladivostok" in r.output
    r = runner.invoke(app, ["sites", "list", "--json", "-w", ws])
    assert json.loads(r.stdout)[0]["name"] == "Golden Horn"
    r = runner.invoke(
        app, ["scenes", "add", str(first.path), str(second.path), "--site", "Golden Horn", "-w", ws]
    )
    assert r.exit_code == 0, r.output
    assert "2026-03-01" in r.output and "2026-03-08" in r.output
    r = runner.invoke(app, ["detect", "ships", "1", "2", "--detector", "cfar", "-w", ws])
    assert r.exit_code == 0, r.output
    exports = tmp_path / "ws" / "exports" / "sites"
    geojson = json.loads((exports / "scene1_2026-03-01_cfar.geojson").read_text())
    assert geojson["type"] == "FeatureCollection" and geojson["features"]
    assert (exports / "scene1_2026-03-01_cfar.png").stat().st_size > 1000
    out = tmp_path / "changes.json"
    r = runner.invoke(app, ["changes", "Golden Horn", "--json", str(out), "-w", ws])
    assert r.exit_code == 0, r.output
    report = json.loads(out.read_text())
    assert report["dates"] == ["2026-03-01", "2026-03-08"]
    assert report["pairs"][0]["summary"]["arrivals"] >= len(truth["arrived"])
    assert (exports / "Golden_Horn_counts.png").exists()


def test_errors_are_one_line_messages_with_exit_codes(tmp_path):
    ws = str(tmp_path / "ws")
    r = runner.invoke(app, ["scenes", "add", str(tmp_path / "missing.tif"), "--site", "Nowhere", "-w", ws])
    assert r.exit_code == 3 and "Nowhere" in r.output
    r = runner.invoke(app, ["sites", "add", "P", "--point", "east of here", "-w", ws])
    assert r.exit_code == 2 and "LON,LAT" in r.output
    r = runner.invoke(app, ["detect", "ships", "7", "-w", ws])
    assert r.exit_code == 3
    r = runner.invoke(app, ["eval", "ships", str(tmp_path), "--json", str(tmp_path / "o.json")])
    assert r.exit_code == 2 and "images.csv" in r.output
