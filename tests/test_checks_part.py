"""The checks part's hooks: the `imint check` command, on_ingest, record type, report cards, evidence view."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
import typer
from typer.testing import CliRunner

from imint import checks
from imint.checks.part import PART
from imint.checks.tables import CheckResultRow, ImageHashRow
from imint.media.ingest import ingest_file
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, jpeg_bytes, open_workspace


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


def _app() -> typer.Typer:
    app, eval_app = typer.Typer(), typer.Typer()
    PART.commands(app, eval_app)
    return app


def test_check_command_ingests_a_new_file_prints_a_table_and_writes_json(tmp_path: Path) -> None:
    f = tmp_path / "photo.jpg"
    f.write_bytes(jpeg_bytes(astronaut(), 85))
    out = tmp_path / "out.json"
    result = CliRunner().invoke(
        _app(),
        ["check", str(f), "-c", "metadata", "-c", "ela", "--json", str(out), "-w", str(tmp_path / "ws")],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "photo.jpg" in result.output and "ela" in result.output
    data = json.loads(out.read_text())
    assert [r["check"] for r in data[0]["results"]] == ["metadata", "ela"]
    sha = data[0]["evidence"]["sha256"]
    # The second time by hash prefix: no new ingest, same evidence.
    again = CliRunner().invoke(_app(), ["check", sha[:10], "-c", "c2pa", "-w", str(tmp_path / "ws")])
    assert again.exit_code == 0 and "absent" in again.output


def test_check_command_errors_are_one_line_with_exit_code(tmp_path: Path) -> None:
    env = {"COLUMNS": "300"}
    result = CliRunner().invoke(
        _app(), ["check", str(tmp_path / "missing.jpg"), "-w", str(tmp_path / "ws")], env=env
    )
    assert result.exit_code == 3 and "missing.jpg: no such file" in result.output
    bad = CliRunner().invoke(_app(), ["check", "abc", "-c", "nope", "-w", str(tmp_path / "ws")], env=env)
    assert bad.exit_code == 2 and "unknown check 'nope'" in bad.output


def test_on_ingest_runs_the_cheap_checks_inside_the_ingest_transaction(ws, tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(jpeg_bytes(astronaut(), 85))
    with ws.session() as s:
        ev = ingest_file(s, ws.objects_dir, f, added_by=ws.user)
        PART.on_ingest(ws, ev, s)
    with ws.session() as s:
        assert s.get(ImageHashRow, (ev.sha256, "phash-64")) is not None
        stored = {r.check for r in s.query(CheckResultRow).filter_by(evidence_sha256=ev.sha256)}
    assert stored == set(checks.GROUPS["cheap"])
    assert "ela" not in stored  # the slow forensic checks wait for `imint check`


def test_record_type_card_evidence_cards_and_view(ws, tmp_path: Path) -> None:
    f = tmp_path / "a.jpg"
    f.write_bytes(jpeg_bytes(astronaut(), 85))
    ev = ws.ingest(f)
    checks.run_checks(ws, ev, ["ela", "c2pa"])
    with ws.session() as s:
        row = s.query(CheckResultRow).filter_by(evidence_sha256=ev.sha256, check="ela").one()
        assert PART.record_types()["check"](s, row.id) == ev.sha256
        assert PART.record_types()["check"](s, 10_000) is None
    link = SimpleNamespace(record_id=row.id, relation="context", note="n", created_by="tester")
    card = PART.cards()["check"](ws, link, ev)
    assert card.title.startswith("ela check") and card.machine == [row.summary]
    assert card.extra_images and card.extra_images[0][0].startswith("data:image/png")
    cards = PART.evidence_cards(ws, ev)
    assert len(cards) == 1 and any(line.startswith("c2pa: absent") for line in cards[0].machine)
    view = PART.evidence_view(ws, ev.sha256)
    # The cheap checks ran at ingest (the part is registered); `run_checks` added ELA and re-ran C2PA.
    assert {r["check"] for r in view["checks"]} == {*checks.GROUPS["cheap"], "ela"}
    assert row.id in {r["id"] for r in view["checks"]}  # each names the record claims link as check:ID
    assert PART.evidence_view(ws, "0" * 64) is None


def test_sun_command_with_a_place_time_and_shadow(tmp_path: Path) -> None:
    args = [
        "sun",
        "--lat",
        "48.85",
        "--lon",
        "2.35",
        "--claimed",
        "2024-05-05T08:20:00Z",
        "--top",
        "100,100",
        "--base",
        "100,300",
        "--tip",
        "364,300",
        "-w",
        str(tmp_path / "ws"),
    ]
    result = CliRunner().invoke(_app(), args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "elevation" in result.output and "consistent with" in result.output
    missing = CliRunner().invoke(
        _app(), ["sun", "--lat", "1", "-w", str(tmp_path / "ws")], env={"COLUMNS": "200"}
    )
    assert missing.exit_code == 2 and "need a place and a time" in missing.output


def test_sun_command_takes_place_and_time_from_the_evidence_metadata(tmp_path: Path) -> None:
    from tests.test_checks_metadata import exif_jpeg

    f = exif_jpeg(tmp_path / "kyiv.jpg", when="2024:07:10 14:30:00", lat=(50.0, 27.0, 0.0),
                  lon=(30.0, 31.0, 24.0), lat_ref="N", lon_ref="E")  # fmt: skip
    ws_dir = tmp_path / "ws"
    with Workspace(ws_dir) as w:
        sha = w.ingest(f).sha256
    args = ["sun", sha[:12], "--top", "10,10", "--base", "10,110", "--tip", "90,110", "-w", str(ws_dir)]
    result = CliRunner().invoke(_app(), args, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "2024-07-10T11:30:00+00:00 over 50.45000, 30.52333" in result.output
    assert "outside the shadow" in result.output  # elevation 57.0 at 11:30 UTC; ratio 0.8 allows 47-56


def test_the_evidence_page_shows_the_checks_as_html_and_json(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from imint.api.app import create_app
    from tests.api_support import make_users

    tokens = make_users(tmp_path / "site")
    f = tmp_path / "a.jpg"
    f.write_bytes(jpeg_bytes(astronaut(), 85))
    with Workspace(tmp_path / "site") as w:
        sha = w.ingest(f).sha256
    with TestClient(create_app(tmp_path / "site")) as client:
        auth = {"Authorization": f"Bearer {tokens['viewer']}"}
        data = client.get(f"/evidence/{sha}.json", headers=auth).json()
        assert {c["check"] for c in data["checks"]} == set(checks.GROUPS["cheap"])
        page = client.get(f"/evidence/{sha}", headers={**auth, "Accept": "text/html"}).text
        assert "<h2>Checks</h2>" in page and "near_duplicates" in page
