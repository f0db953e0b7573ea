"""The sun check with a shadow marked by a person: the same computation from the CLI and the web, stored
as a person's input apart from the machine's findings, shown in the report's checks card."""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner

from imint import checks
from imint.checks.part import PART
from imint.checks.shadow import lines_from_points, mark_shadow, shadow_markings, window_from_lines
from imint.checks.sun import shadow_time_window, sun_position
from imint.checks.tables import ShadowMarkingRow
from imint.errors import ValidationError
from imint.store.models import CustodyEntry
from imint.workspace import Workspace
from tests.test_checks_helpers import astronaut, jpeg_bytes, open_workspace
from tests.test_checks_metadata import exif_jpeg

KYIV = (50.45, 30.52333)
TRUE_TIME = dt.datetime(2024, 7, 10, 11, 30, tzinfo=dt.UTC)  # the EXIF time of kyiv.jpg in UTC


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


def kyiv_photo(tmp_path: Path) -> Path:
    return exif_jpeg(tmp_path / "kyiv.jpg", when="2024:07:10 14:30:00", lat=(50.0, 27.0, 0.0),
                     lon=(30.0, 31.0, 24.0), lat_ref="N", lon_ref="E")  # fmt: skip


def lines_for(when: dt.datetime) -> tuple[tuple, tuple]:
    """A 100 px pole at (20, 120) on the 128 px photo with the shadow the sun cast at ``when``."""
    _, el = sun_position(when, *KYIV)
    shadow = 100 / math.tan(math.radians(el))
    return (20.0, 120.0, 20.0, 20.0), (20.0, 120.0, 20.0 + shadow, 120.0)


def count(ws: Workspace) -> int:
    with ws.session() as s:
        return s.scalar(select(func.count()).select_from(ShadowMarkingRow))


def test_two_lines_give_the_three_point_computation() -> None:
    top, base, tip = (10.0, 10.0), (10.0, 110.0), (90.0, 110.0)
    obj, shadow = lines_from_points(top, base, tip)
    assert obj == (10.0, 110.0, 10.0, 10.0) and shadow == (10.0, 110.0, 90.0, 110.0)
    w = window_from_lines(*KYIV, TRUE_TIME, obj, shadow)
    same = shadow_time_window(*KYIV, TRUE_TIME.date(), top=top, base=base, tip=tip, claimed=TRUE_TIME)
    assert w.to_dict() == same.to_dict()
    assert w.ratio == pytest.approx(0.8) and w.claimed_consistent is False  # sun at 57.0°; 0.8 allows 47-56°


def test_marking_is_stored_as_a_persons_input_with_the_exif_place_and_time(ws, tmp_path: Path) -> None:
    ev = ws.ingest(kyiv_photo(tmp_path))
    machine_before = [r.to_dict() for r in checks.stored_results(ws, ev.sha256)]
    obj, shadow = lines_for(TRUE_TIME)
    m = mark_shadow(ws, ev.sha256, object_line=obj, shadow_line=shadow, note="lamp post by the fountain")
    assert m.created_by == "tester" and m.place_basis == "EXIF GPS" and m.time_basis == "EXIF capture time"
    assert (m.lat, m.lon) == (pytest.approx(KYIV[0], abs=1e-4), pytest.approx(KYIV[1], abs=1e-4))
    assert m.claimed_utc == "2024-07-10T11:30:00Z" and m.result["claimed_consistent"] is True
    assert "inside" in m.summary and "not proof" in m.summary
    # Five hours earlier (the sun far lower) the same shadow does not fit; a time given by hand wins over EXIF.
    early = mark_shadow(
        ws, ev.sha256, object_line=obj, shadow_line=shadow, claimed=TRUE_TIME - dt.timedelta(hours=5)
    )
    assert (
        early.time_basis == "given"
        and early.result["claimed_consistent"] is False
        and "outside" in early.summary
    )
    assert [x.id for x in shadow_markings(ws, ev.sha256)] == [m.id, early.id]
    # Kept apart from the machine's findings: the check results are untouched.
    assert [r.to_dict() for r in checks.stored_results(ws, ev.sha256)] == machine_before
    with ws.session() as s:
        actions = s.scalars(
            select(CustodyEntry.action).where(CustodyEntry.evidence_sha256 == ev.sha256)
        ).all()
    assert actions.count("shadow-marked") == 2
    # The report's checks card shows the marking as the person's, not as a machine line.
    (card,) = PART.evidence_cards(ws, ev)
    assert any(p.startswith("Sun check: shadow marked by tester") and "lamp post" in p for p in card.person)
    assert not any("shadow" in line for line in card.machine)


def test_bad_markings_are_refused_naming_the_field_and_store_nothing(ws, tmp_path: Path) -> None:
    ev = ws.ingest(kyiv_photo(tmp_path))
    plain = tmp_path / "no-gps.jpg"
    plain.write_bytes(jpeg_bytes(astronaut()[:128, :128], 85))
    no_gps = ws.ingest(plain)
    obj, shadow = lines_for(TRUE_TIME)
    cases = [
        (
            ev.sha256,
            dict(object_line=(20, 120, 20, 120), shadow_line=shadow),
            "object: the object's base and top",
        ),
        (
            ev.sha256,
            dict(object_line=obj, shadow_line=(20, 120, 500, 120)),
            "shadow: point 500,120 is outside",
        ),
        (ev.sha256, dict(object_line=obj, shadow_line=shadow, claimed=dt.datetime(2024, 7, 10)), "claimed"),
        (no_gps.sha256, dict(object_line=obj, shadow_line=shadow), "no-gps.jpg has no EXIF GPS point"),
        (ev.sha256, dict(object_line=obj, shadow_line=shadow, tolerance=1.5), "tolerance"),
    ]
    for sha, kwargs, message in cases:
        with pytest.raises(ValidationError, match=message):
            mark_shadow(ws, sha, **kwargs)
    with pytest.raises(ValidationError, match="object: a line is X1,Y1,X2,Y2"):
        checks_shadow_parse("1,2,3", "object")
    assert count(ws) == 0


def checks_shadow_parse(text: str, field: str) -> tuple:
    from imint.checks.shadow import parse_line

    return parse_line(text, field)


def _app() -> typer.Typer:
    app, eval_app = typer.Typer(), typer.Typer()
    PART.commands(app, eval_app)
    return app


def test_sun_command_takes_two_lines_like_three_points_and_saves_the_marking(tmp_path: Path) -> None:
    ws_dir = tmp_path / "ws"
    with Workspace(ws_dir) as w:
        sha = w.ingest(kyiv_photo(tmp_path)).sha256
    env = {"COLUMNS": "200"}
    three = CliRunner().invoke(
        _app(),
        ["sun", sha[:12], "--top", "10,10", "--base", "10,110", "--tip", "90,110", "-w", str(ws_dir)],
        env=env,
    )
    two = CliRunner().invoke(
        _app(),
        ["sun", sha[:12], "--object", "10,110,10,10", "--shadow", "10,110,90,110", "-w", str(ws_dir)],
        env=env,
    )
    assert three.exit_code == 0 and two.exit_code == 0, two.output
    assert two.output == three.output and "outside the shadow" in two.output
    half = CliRunner().invoke(
        _app(), ["sun", sha[:12], "--shadow", "10,110,90,110", "-w", str(ws_dir)], env=env
    )
    assert half.exit_code == 2 and "give both --object and --shadow" in half.output
    obj, shadow = lines_for(TRUE_TIME)
    saved = CliRunner().invoke(
        _app(),
        [
            "sun",
            sha[:12],
            "--object",
            ",".join(map(str, obj)),
            "--shadow",
            ",".join(map(str, shadow)),
            "--save",
            "--note",
            "from the CLI",
            "-w",
            str(ws_dir),
        ],  # fmt: skip
        env=env,
    )
    assert saved.exit_code == 0, saved.output
    assert "shadow marking 1 stored" in saved.output and "inside" in saved.output
    with Workspace(ws_dir) as w:
        (m,) = shadow_markings(w, sha)
    assert m.note == "from the CLI" and m.result["claimed_consistent"] is True


def test_shadow_marking_over_http_and_its_json_twins(tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from imint.api.app import create_app
    from tests.api_support import make_users

    tokens = make_users(tmp_path / "site")
    with Workspace(tmp_path / "site") as w:
        sha = w.ingest(kyiv_photo(tmp_path)).sha256
    obj, shadow = lines_for(TRUE_TIME)
    form = {"object_line": ",".join(map(str, obj)), "shadow_line": ",".join(map(str, shadow))}
    with TestClient(create_app(tmp_path / "site")) as client:
        analyst = {"Authorization": f"Bearer {tokens['analyst']}", "Accept": "application/json"}
        viewer = {"Authorization": f"Bearer {tokens['viewer']}", "Accept": "application/json"}
        r = client.post(f"/evidence/{sha}/shadow", data=form, headers=analyst)
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["created_by"] == "analyst" and body["consistent"] is True
        assert body["result"]["intervals_utc"] and body["claimed_utc"] == "2024-07-10T11:30:00Z"
        early = client.post(
            f"/evidence/{sha}/shadow", data={**form, "claimed": "2024-07-10T06:00:00Z"}, headers=analyst
        ).json()
        assert early["consistent"] is False
        assert client.post(f"/evidence/{sha}/shadow", data=form, headers=viewer).status_code == 403
        bad = client.post(f"/evidence/{sha}/shadow", data={**form, "object_line": "1,2"}, headers=analyst)
        assert bad.status_code == 422 and "object_line" in bad.json()["detail"]
        naive = client.post(
            f"/evidence/{sha}/shadow", data={**form, "claimed": "2024-07-10T11:30"}, headers=analyst
        )
        assert naive.status_code == 422 and "zone" in naive.json()["detail"]
        assert client.post(f"/evidence/{sha[:10]}/shadow", data=form, headers=analyst).status_code == 404
        listed = client.get(f"/evidence/{sha}/shadow.json", headers=viewer).json()
        assert [m["id"] for m in listed["markings"]] == [body["id"], early["id"]]
        assert listed["sun"]["claimed_utc"] == "2024-07-10T11:30:00Z"
        page = client.get(f"/evidence/{sha}.json", headers=viewer).json()
        assert [m["id"] for m in page["shadow_markings"]] == [body["id"], early["id"]]
        assert all(c["check"] != "shadow" for c in page["checks"])  # the person's input is not a check result
        html = client.get(f"/evidence/{sha}", headers={**viewer, "Accept": "text/html"}).text
        assert 'id="sun"' in html and f'id="shadow-marking-{body["id"]}"' in html
        assert 'id="shadow-form"' not in html  # a viewer sees the markings, cannot mark
        html = client.get(f"/evidence/{sha}", headers={**analyst, "Accept": "text/html"}).text
        assert 'id="shadow-form"' in html and 'value="2024-07-10T11:30:00Z"' in html
