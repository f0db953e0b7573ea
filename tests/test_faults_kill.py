"""Real processes killed with SIGKILL mid-command, then the same command run again.

Each test runs one ``imint`` command in a child process (``python -m imint.cli``), kills it
with ``kill -9`` at a point found by watching the workspace (the first row of a table, the
first object file) or after a fixed early delay, runs the same command to the end, and
checks the workspace against an uninterrupted run: nothing half-written (no orphan rows, no
temp files, exports whole), nothing done twice (same row counts, no duplicate rows), custody
and audit logs kept as they were before the restart and still append-only, the vector index
agreeing with the database (``imint doctor`` finds nothing wrong).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imint.workspace import Workspace
from tests import db_support
from tests.conftest import astronaut, grace_hopper
from tests.db_support import ON_POSTGRES, RefusedByDatabase, copy_workspace, doctor

PERSON = "Eileen Collins"


# -- running and killing the command ------------------------------------------------------
def imint_cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "imint.cli", *[str(a) for a in args]]


def env_of(cmd: list[str]) -> dict[str, str]:
    """The child's environment: this tree's imint and the database of the workspace after ``-w``."""
    return db_support.child_env(cmd[cmd.index("-w") + 1], IMINT_USER="tester")


def run_to_end(*args: object) -> subprocess.CompletedProcess:
    cmd = imint_cmd(*args)
    done = subprocess.run(cmd, env=env_of(cmd), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def kill_when(args: list[str], ready: Callable[[], bool], *, timeout: float = 300) -> bool:
    """Start ``args``, SIGKILL it once ``ready()`` is true; False if it finished first."""
    child = subprocess.Popen(args, env=env_of(args), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + timeout
        while child.poll() is None and time.monotonic() < deadline:
            if ready():
                os.kill(child.pid, signal.SIGKILL)
                child.wait(timeout=60)
                return child.returncode == -signal.SIGKILL
            time.sleep(0.02)
        return False
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()


def after(seconds: float) -> Callable[[], bool]:
    start = time.monotonic()
    return lambda: time.monotonic() - start >= seconds


def count_rows(ws: Path, table: str, where: str = "1 = 1") -> int:
    """Rows of ``table`` as another reader sees them (0 while the database or table is not there)."""
    if ON_POSTGRES:
        try:
            return query(ws, f"SELECT count(*) FROM {table} WHERE {where}")[0][0]  # noqa: S608
        except RefusedByDatabase:
            return 0
    if not (ws / "imint.db").exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{ws / 'imint.db'}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]  # noqa: S608
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def first_row(ws: Path, table: str) -> Callable[[], bool]:
    return lambda: count_rows(ws, table) > 0


def first_object(ws: Path) -> Callable[[], bool]:
    """An object file (or its temp file) is in the store: the ingest's transaction is still open."""
    return lambda: any(p.is_file() for p in (ws / "objects").glob("??/??/*"))


# -- what must hold after a restart ---------------------------------------------------------------
def query(ws: Path, sql: str) -> list[tuple]:
    if ON_POSTGRES:  # on a connection of the test's own, as sqlite3 below
        return db_support.query(db_support.servers.engine(db_support.database_url(ws)), sql)
    conn = sqlite3.connect(ws / "imint.db")
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def log_rows(ws: Path) -> dict[str, list[tuple]]:
    return {t: query(ws, f"SELECT * FROM {t} ORDER BY id") for t in ("custody_log", "audit_log")}  # noqa: S608


def assert_logs_kept_and_append_only(ws: Path, before: dict[str, list[tuple]]) -> None:
    after_restart = log_rows(ws)
    for table, rows in before.items():
        assert after_restart[table][: len(rows)] == rows, f"{table} rows changed after the restart"
        if rows:
            for sql in (f"UPDATE {table} SET actor = 'x'", f"DELETE FROM {table}"):  # noqa: S608
                refuse(ws, sql)
    added = query(ws, "SELECT evidence_sha256, count(*) FROM custody_log WHERE action='added' GROUP BY 1")
    assert all(n == 1 for _, n in added), "an original was logged as added twice"
    assert {sha for sha, _ in added} == {sha for (sha,) in query(ws, "SELECT sha256 FROM evidence")}


def refuse(ws: Path, sql: str) -> None:
    """``sql`` is refused by the append-only triggers, as the application's database user."""
    if ON_POSTGRES:
        with pytest.raises(RefusedByDatabase, match="append-only"):
            db_support.execute(db_support.servers.engine(db_support.database_url(ws)), sql)
        return
    conn = sqlite3.connect(ws / "imint.db")
    try:
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            conn.execute(sql)
    finally:
        conn.close()


def assert_whole(ws: Path) -> None:
    """The doctor finds nothing: no damage, no orphan rows or objects, no temp file, index in step."""
    report = doctor(ws)
    assert report.ok and not report.findings, report.to_dict()
    leftovers = [p for p in ws.rglob("*") if p.name.startswith(".incoming-") or p.name.endswith(".tmp")]
    assert not leftovers


def counts(ws: Path, tables: tuple[str, ...]) -> dict[str, int]:
    return {t: count_rows(ws, t) for t in tables}


# -- fixtures ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def photo_folder(tmp_path_factory) -> Path:
    """Six photos of two people: the originals, shrunk copies and shifted (padded) copies."""
    d = tmp_path_factory.mktemp("folder")
    for name, image in (("astronaut", astronaut()), ("hopper", grace_hopper())):
        Image.fromarray(image).save(d / f"{name}.png")
        h, w = image.shape[:2]
        Image.fromarray(image).resize((w * 3 // 4, h * 3 // 4)).save(d / f"{name}_small.jpg", quality=90)
        shifted = np.zeros((h + 40, w + 60, 3), np.uint8)
        shifted[40:, 60:] = image
        Image.fromarray(shifted).save(d / f"{name}_shifted.jpg", quality=90)
    return d


@pytest.fixture(scope="module")
def reference_photo(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ref") / "collins.jpg"
    Image.fromarray(astronaut()[10:400, 60:460]).save(path, quality=88)
    return path


FACE_TABLES = ("evidence", "faces", "face_scans", "matches", "persons", "reference_photos")


@pytest.fixture(scope="module")
def enrolled_workspace(tmp_path_factory, reference_photo) -> Path:
    """A workspace where Eileen Collins is enrolled; each test works on a copy."""
    ws = tmp_path_factory.mktemp("enrolled") / "ws"
    with Workspace(ws, user="tester") as w:  # set-ups run here: a process start is seconds on a busy machine
        w.enroll(PERSON, [reference_photo])
    return ws


@pytest.fixture(scope="module")
def uninterrupted_search(tmp_path_factory, photo_folder, enrolled_workspace) -> dict[str, int]:
    ws = tmp_path_factory.mktemp("clean") / "ws"
    copy_workspace(enrolled_workspace, ws)
    with Workspace(ws, user="tester") as w:
        w.search(photo_folder)
    return counts(ws, FACE_TABLES)


def assert_no_duplicate_faces(ws: Path) -> None:
    dup = query(
        ws,
        "SELECT evidence_sha256, model_id, x1, y1, x2, y2, count(*) FROM faces "
        "GROUP BY 1, 2, 3, 4, 5, 6, coalesce(frame_time, -1) HAVING count(*) > 1",
    )
    assert not dup, dup
    scans = query(
        ws,
        "SELECT s.n_faces, (SELECT count(*) FROM faces f WHERE f.evidence_sha256 = s.evidence_sha256 "
        "AND f.model_id = s.model_id) FROM face_scans s",
    )
    assert all(a == b for a, b in scans), scans


# -- the tests --------------------------------------------------------------------------------------
def slow(value: str) -> object:
    """A further kill point of a test whose first one runs in every suite."""
    return pytest.param(value, marks=pytest.mark.long)


@pytest.mark.parametrize("kill_at", ["first-evidence-row", slow("first-object-file"), slow("early-delay")])
def test_folder_search_killed_then_run_again(
    tmp_path, photo_folder, enrolled_workspace, uninterrupted_search, kill_at
):
    ws = tmp_path / "ws"
    copy_workspace(enrolled_workspace, ws)
    n_enrolled = count_rows(ws, "evidence")
    ready = {
        "first-evidence-row": lambda: count_rows(ws, "evidence") > n_enrolled,
        "first-object-file": lambda: sum(1 for _ in (ws / "objects").glob("??/??/*")) > n_enrolled,
        "early-delay": after(1.5),
    }[kill_at]
    out = ws / "exports" / "search.json"
    assert kill_when(imint_cmd("search", photo_folder, "--json", out, "-w", ws), ready)
    before = log_rows(ws)
    assert count_rows(ws, "evidence") < uninterrupted_search["evidence"], "killed after the run had finished"

    run_to_end("search", photo_folder, "--json", out, "-w", ws)
    assert counts(ws, FACE_TABLES) == uninterrupted_search
    assert_no_duplicate_faces(ws)
    assert_logs_kept_and_append_only(ws, before)
    assert_whole(ws)
    results = json.loads(out.read_text())["media"]  # the export is whole JSON
    found = {Path(r["path"]).name for r in results for f in r["faces"] if f["identity"] == PERSON}
    assert {"astronaut.png", "astronaut_small.jpg", "astronaut_shifted.jpg"} <= found
    assert not found & {"hopper.png", "hopper_small.jpg", "hopper_shifted.jpg"}
    for jpg in (ws / "exports" / "annotated").glob("*.jpg"):
        with Image.open(jpg) as im:
            im.load()  # a half-written JPEG would not decode


@pytest.mark.parametrize("kill_at", ["first-object-file", slow("early-delay")])
def test_enrollment_killed_then_run_again(tmp_path, photo_folder, reference_photo, kill_at):
    ws = tmp_path / "ws"
    # A first person enrolled and searched for: the saved index then holds only her.
    with Workspace(ws, user="tester") as w:
        w.enroll("Grace Hopper", [photo_folder / "hopper.png"])
        w.search(photo_folder / "hopper_small.jpg")
    n_objects = sum(1 for _ in (ws / "objects").glob("??/??/*"))
    photos = [reference_photo, photo_folder / "astronaut.png", photo_folder / "astronaut_small.jpg"]
    ready = (
        (lambda: sum(1 for _ in (ws / "objects").glob("??/??/*")) > n_objects)
        if kill_at == "first-object-file"
        else after(1.0)
    )
    assert kill_when(imint_cmd("enroll", PERSON, *photos, "-w", ws), ready)
    before = log_rows(ws)
    # Enrollment is one transaction: killed, it left no person and no reference behind.
    assert count_rows(ws, "persons", f"name = '{PERSON}'") == 0
    assert count_rows(ws, "reference_photos") == 1

    run_to_end("enroll", PERSON, *photos, "-w", ws)
    assert count_rows(ws, "persons") == 2 and count_rows(ws, "reference_photos") == 4
    stale = doctor(ws)
    assert [f.check for f in stale.findings] == ["index"], stale.to_dict()  # saved before she was enrolled
    out = tmp_path / "found.json"
    run_to_end("search", photo_folder / "astronaut_shifted.jpg", "--no-annotate", "--json", out, "-w", ws)
    assert [f["identity"] for f in json.loads(out.read_text())["media"][0]["faces"]] == [PERSON]
    assert_logs_kept_and_append_only(ws, before)
    assert_whole(ws)  # the search rebuilt the index from the database
    assert count_rows(ws, "custody_log", "action = 'enrolled'") == 4


DETECTION_TABLES = ("evidence", "scenes", "ship_detections")


@pytest.fixture(scope="module")
def sar_scene(tmp_path_factory) -> Path:
    from imint.sites.synthetic import make_sar_scene

    path = tmp_path_factory.mktemp("sar") / "port.tif"
    make_sar_scene(path, width=1024, height=1024, n_ships=12, seed=3)
    return path


def scene_workspace(ws: Path, scene: Path) -> Workspace:
    from imint.sites import add_scene, add_site

    w = Workspace(ws, user="tester")
    add_site(w, "Golden Horn", place="Vladivostok", radius_m=8000)
    add_scene(w, scene, site="Golden Horn")
    return w


@pytest.mark.parametrize("kill_at", ["first-detection-row", slow("early-delay")])
def test_ship_detection_killed_then_run_again(tmp_path, sar_scene, kill_at):
    clean = tmp_path / "clean"
    from imint.sites import detect_ships

    with scene_workspace(clean, sar_scene) as w:
        expected_features = len(detect_ships(w, 1, detector="cfar"))
    expected = counts(clean, DETECTION_TABLES)
    assert expected["ship_detections"] > 0

    ws = tmp_path / "ws"
    scene_workspace(ws, sar_scene).close()
    ready = first_row(ws, "ship_detections") if kill_at == "first-detection-row" else after(1.0)
    killed = kill_when(imint_cmd("detect", "ships", "1", "--detector", "cfar", "-w", ws), ready)
    assert killed
    before = log_rows(ws)
    assert count_rows(ws, "ship_detections") in (0, expected["ship_detections"])  # all or nothing

    run_to_end("detect", "ships", "1", "--detector", "cfar", "-w", ws)
    assert counts(ws, DETECTION_TABLES) == expected
    dup = query(ws, "SELECT scene_id, detector_id, x1, y1, count(*) FROM ship_detections GROUP BY 1, 2, 3, 4 "
                    "HAVING count(*) > 1")  # fmt: skip
    assert not dup
    name = "scene1_2026-03-01_cfar"
    exports = ws / "exports" / "sites"
    assert len(json.loads((exports / f"{name}.geojson").read_text())["features"]) == expected_features
    with Image.open(exports / f"{name}.png") as im:
        im.load()
    assert_logs_kept_and_append_only(ws, before)
    assert_whole(ws)


def small_case(ws: Path, photo_folder: Path) -> None:
    from imint.cases import add_claim, add_evidence, create_case

    with Workspace(ws, user="tester") as w:
        create_case(w, "harbour", title="Ships in port")
        add_claim(w, "harbour", "two ships at the pier", reliability="B", credibility="2")
        add_evidence(w, "harbour", [photo_folder / "astronaut.png", photo_folder / "hopper.png"])


@pytest.mark.parametrize("kill_at", ["first-verified-row", slow("early-delay")])
def test_report_build_killed_then_run_again(tmp_path, photo_folder, kill_at):
    ws = tmp_path / "ws"
    small_case(ws, photo_folder)
    ready = (
        (lambda: count_rows(ws, "custody_log", "action = 'verified'") > 0)
        if kill_at == "first-verified-row"
        else after(1.0)
    )
    assert kill_when(imint_cmd("report", "harbour", "--no-pdf", "-w", ws), ready)
    before = log_rows(ws)
    html = ws / "exports" / "harbour-report.html"
    assert not html.exists() or html.read_text().rstrip().endswith("</html>")

    run_to_end("report", "harbour", "--no-pdf", "-w", ws)
    text = html.read_text()
    assert text.rstrip().endswith("</html>") and "two ships at the pier" in text
    # The export is logged for every evidence of the case or for none, once per finished run.
    exported = query(
        ws, "SELECT evidence_sha256, count(*) FROM custody_log WHERE action='exported' GROUP BY 1"
    )
    assert len(exported) == 2 and {n for _, n in exported} == {1}
    assert_logs_kept_and_append_only(ws, before)
    assert_whole(ws)
