"""`imint reembed`: a workspace analysed with an older face model, carried over to the current one."""

import json

import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from imint.cli import app
from imint.errors import NotFoundError
from imint.faces.cluster import Clusters
from imint.faces.engine import DEFAULT_MODEL, PREVIOUS_MODEL
from imint.faces.reembed import map_faces, other_model_faces, reembed
from imint.faces.service import FaceService
from imint.faces.tables import ClusterConstraint, FaceRow, FaceScan, Match, ReferencePhoto
from imint.workspace import Workspace

runner = CliRunner()


def test_boxes_map_only_one_to_one():
    old = np.array([[0, 0, 10, 10], [100, 100, 110, 110], [50, 50, 60, 60]], float)
    new = np.array([[0.3, 0.2, 10.1, 10.4], [102, 101, 111, 112], [300, 300, 310, 310]], float)
    assert map_faces(old, new) == {0: 0, 1: 1}  # the third old face has no counterpart
    # Two old boxes on one new face: only the better one maps.
    assert map_faces(np.array([[0, 0, 10, 10], [1, 1, 11, 11]], float), new[:1]) == {0: 0}
    assert map_faces(old, np.zeros((0, 4))) == {}


@pytest.fixture()
def old_workspace(tmp_path, photos):
    """A workspace analysed with the previous default: an enrollment, a confirmed candidate, a
    a cluster split (a cannot-link), and one enrolled face that the new model will not
    find (an invented box: nothing of it can be carried)."""
    ws = Workspace(tmp_path / "ws", user="analyst1")
    old = FaceService(ws, PREVIOUS_MODEL)
    old.enroll("Eileen Collins", [photos["astronaut"]])
    result = old.search([photos["astronaut_crop"], photos["grace_hopper"]])
    crop_face = result[0].faces[0]
    old.decide(crop_face.candidates[0].id, "confirmed", "checked the suit")
    hopper = result[1].faces[0]
    # A second, unknown view of Grace Hopper (mirrored, shrunk): her two faces make a cluster.
    second = tmp_path / "hopper_second.jpg"
    Image.open(photos["grace_hopper"]).transpose(Image.FLIP_LEFT_RIGHT).reduce(2).save(second, quality=90)
    clusters = Clusters(old)
    found = clusters.run([second])
    astro = next(c for c in found if len(c.face_ids) >= 2)
    clusters.split(astro.id, [astro.face_ids[1]])
    with ws.session() as s:
        ghost = FaceRow(
            evidence_sha256=s.get(FaceRow, hopper.face_id).evidence_sha256,
            x1=1.0, y1=1.0, x2=9.0, y2=9.0,
            landmarks=[[2.0, 3.0]] * 5, det_score=0.7, quality=0.5, quality_reason="ok",
            embedding=np.zeros(256, np.float32).tobytes(), model_id=PREVIOUS_MODEL,
        )  # fmt: skip
        s.add(ghost)
        s.flush()
        person = s.scalar(select(ReferencePhoto.person_id))
        s.add(ReferencePhoto(person_id=person, face_id=ghost.id, evidence_sha256=ghost.evidence_sha256))
    return ws


def _rows(ws, model_id):
    with ws.session() as s:
        return list(s.scalars(select(FaceRow).where(FaceRow.model_id == model_id).order_by(FaceRow.id)))


def test_reembed_carries_decisions_to_the_new_model_and_runs_once(old_workspace):
    ws = old_workspace
    assert DEFAULT_MODEL != PREVIOUS_MODEL
    service = FaceService(ws, DEFAULT_MODEL)
    before = {r.id: r for r in _rows(ws, PREVIOUS_MODEL)}
    assert other_model_faces(service) == {PREVIOUS_MODEL: len(before)}
    with pytest.raises(NotFoundError, match="no reference face for this model"):
        service.find(name="Eileen Collins")  # her reference is an old model's face: not compared

    seen: list[tuple[int, int]] = []
    report = reembed(service, progress=lambda done, total, item: seen.append((done, total)))
    assert report.photos_to_do == report.photos_done == 4 and not report.photos_failed
    assert seen[0] == (0, 4) and seen[-1] == (4, 4)
    new = {r.id: r for r in _rows(ws, DEFAULT_MODEL)}
    assert len(new) == report.faces_new >= 4
    assert report.faces_old == len(before) and report.faces_mapped == len(before) - 1  # all but the ghost
    assert other_model_faces(service) == {}

    with ws.session() as s:
        refs = {r.face_id for r in s.scalars(select(ReferencePhoto))}
        matches = list(s.scalars(select(Match)))
        constraints = list(s.scalars(select(ClusterConstraint)))
        scans = {(f.evidence_sha256, f.model_id) for f in s.scalars(select(FaceScan))}
    ghost = max(before)
    assert ghost in refs and len(refs - {ghost}) == 1 and (refs - {ghost}) <= set(new)
    assert matches and all(m.face_id in new for m in matches)
    assert {m.status for m in matches} >= {"confirmed"}
    confirmed = next(m for m in matches if m.status == "confirmed")
    assert confirmed.note == "checked the suit" and confirmed.decided_by == "analyst1"
    assert constraints and all(c.face_a in new and c.face_b in new for c in constraints)
    assert all(r.cluster_id is None for r in _rows(ws, PREVIOUS_MODEL))  # membership moved, not copied
    moved = [r for r in new.values() if r.cluster_id is not None]
    assert moved and report.carried["clusters"] == len(moved)
    assert report.carried["references"] == 1 and report.carried["constraints"] == len(constraints)
    assert len(report.not_carried) == 1 and f"face {ghost}" in report.not_carried[0]
    assert "1 references" in report.not_carried[0]
    assert {m for _, m in scans} == {PREVIOUS_MODEL, DEFAULT_MODEL}
    assert len(_rows(ws, PREVIOUS_MODEL)) == len(before)  # the old analysis is kept as it was

    # The person is found again, now with the new model's vectors.
    hits = service.find(name="Eileen Collins").appearances
    assert hits and all(a["face_id"] in new for a in hits)

    again = reembed(service)
    assert again.photos_to_do == 0 and again.photos_done == 0
    assert {r.id for r in _rows(ws, DEFAULT_MODEL)} == set(new)


def test_a_photo_that_fails_midway_leaves_nothing_and_the_rerun_resumes(old_workspace, monkeypatch):
    import imint.faces.reembed as reembed_module

    ws = old_workspace
    service = FaceService(ws, DEFAULT_MODEL)
    with ws.session() as s:
        refs_before = sorted((r.person_id, r.face_id) for r in s.scalars(select(ReferencePhoto)))
    real_log = reembed_module.log_custody
    calls = {"n": 0}

    def dies_on_the_second_photo(*args, **kwargs):  # after its rows and links were written
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt  # as a kill would stop it: no handler catches it
        return real_log(*args, **kwargs)

    monkeypatch.setattr(reembed_module, "log_custody", dies_on_the_second_photo)
    with pytest.raises(KeyboardInterrupt):
        reembed(service)
    with ws.session() as s:
        done = {
            f.evidence_sha256 for f in s.scalars(select(FaceScan).where(FaceScan.model_id == DEFAULT_MODEL))
        }
        new_ids = {r.id for r in _rows(ws, DEFAULT_MODEL)}
        refs = sorted((r.person_id, r.face_id) for r in s.scalars(select(ReferencePhoto)))
    assert len(done) == 1  # the first photo is in, whole
    assert {r.evidence_sha256 for r in _rows(ws, DEFAULT_MODEL)} == done  # nothing of the second
    assert all(f in new_ids or f in {f for _, f in refs_before} for _, f in refs)

    monkeypatch.setattr(reembed_module, "log_custody", real_log)
    rest = reembed(service)
    assert rest.photos_to_do == 3 and rest.photos_done == 3
    with ws.session() as s:
        scans = list(s.scalars(select(FaceScan).where(FaceScan.model_id == DEFAULT_MODEL)))
    assert len(scans) == 4


def test_cli_reembed_reports_and_search_warns_before(old_workspace, photos, tmp_path):
    ws = ["--workspace", str(old_workspace.path)]
    r = runner.invoke(app, ["find", "--photo", str(photos["astronaut_crop"]), *ws])
    assert r.exit_code == 0, r.output
    assert "imint reembed" in r.output and PREVIOUS_MODEL in r.output
    assert "0 appearance(s)" in r.output  # her stored faces are an older model's: not compared
    out = tmp_path / "reembed.json"
    r = runner.invoke(app, ["reembed", "--json", str(out), *ws])
    assert r.exit_code == 0, r.output
    # `find --photo` analysed the crop with the new model: it is not analysed again, but the decision on
    # its old face still moves to its new one.
    assert "3 of 3 photo(s) re-embedded" in r.output and "not carried over" in r.output
    assert "1 photo(s) already analysed with" in r.output
    data = json.loads(out.read_text())
    assert data["model_id"] == DEFAULT_MODEL and data["carried"]["references"] == 1
    assert data["photos_relinked"] == 1 and data["carried"]["candidates"] >= 1
    with old_workspace.session() as s:
        confirmed = s.scalar(select(Match).where(Match.status == "confirmed"))
        assert s.get(FaceRow, confirmed.face_id).model_id == DEFAULT_MODEL
    r = runner.invoke(app, ["find", "--photo", str(photos["astronaut_crop"]), *ws])
    assert r.exit_code == 0 and "imint reembed" not in r.output
    assert "0 appearance(s)" not in r.output
    r = runner.invoke(app, ["reembed", *ws])
    assert r.exit_code == 0 and "0 of 0 photo(s)" in r.output
