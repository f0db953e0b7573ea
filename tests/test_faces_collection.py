"""A collection: ingest once (resumable), find a person at collection size, retro-hunt on enroll."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from imint.faces.collection import CollectionFaces, appearance_search
from imint.workspace import Workspace
from tests.db_support import child_env, execute, query


@pytest.fixture()
def ws(tmp_path):
    return Workspace(tmp_path / "ws", user="analyst1")


@pytest.fixture(scope="module")
def collection(tmp_path_factory, photos):
    """A folder of the astronaut seen three other ways, a stranger, and a file that is not a photo."""
    d = tmp_path_factory.mktemp("collection")
    (d / "sub").mkdir()
    astro = np.asarray(Image.open(photos["astronaut"]).convert("RGB"))
    (d / "crop.jpg").write_bytes(photos["astronaut_crop"].read_bytes())
    Image.fromarray(astro[:, ::-1]).resize((256, 256)).save(d / "sub" / "mirrored.jpg", quality=70)
    Image.fromarray(astro).resize((384, 384)).save(d / "sub" / "smaller.png")
    (d / "stranger.jpg").write_bytes(photos["grace_hopper"].read_bytes())
    (d / "notes.jpg").write_text("not a photo\n")
    return d


def _count(ws, table, where=""):
    return query(ws, f"select count(*) from {table} {where}")[0][0]  # noqa: S608


PLANTED = {"crop.jpg", "mirrored.jpg", "smaller.png"}
# mirrored.jpg and smaller.png are near-copies of one picture: one ranked appearance, the other under it.
PICTURES = 2


def _every_copy(appearances, key="source"):
    """The ranked appearances and the near-copies listed under each, flattened."""
    found = [x[key] for a in appearances for x in [a, *a.get("copies", [])]]
    return {f.rsplit("/", 1)[-1] for f in found} if key == "source" else found


def test_ingest_analyses_every_photo_once_and_lists_bad_files(ws, collection):
    report = ws.faces.ingest([collection])
    assert (report.photos, report.analysed, report.reused) == (5, 4, 0)
    assert report.faces == 4 and _count(ws, "face_scans") == 4
    assert [p.rsplit("/", 1)[-1] for p, _ in report.bad] == ["notes.jpg"]
    assert "not an image" in report.bad[0][1]
    again = ws.faces.ingest([collection])
    assert (again.analysed, again.reused, again.faces) == (0, 4, 0)
    assert _count(ws, "faces") == 4 and _count(ws, "face_scans") == 4


def test_search_after_ingest_reuses_the_analysis(ws, collection, photos):
    ws.faces.ingest([collection])
    ws.enroll("Eileen Collins", [photos["astronaut"]], retro_hunt=False)
    faces_before, scans_before = _count(ws, "faces"), _count(ws, "face_scans")
    results = ws.search([collection], annotate_dir=None)
    good = [r for r in results if not r.error]
    assert len(good) == 4 and all(r.reused for r in good)
    # The reference photo added one analysed photo; the search added none.
    assert (_count(ws, "faces"), _count(ws, "face_scans")) == (faces_before, scans_before)
    found = {r.path.rsplit("/", 1)[-1] for r in good if r.faces and r.faces[0].best}
    assert found == PLANTED


def test_find_returns_the_planted_appearances_as_candidates_and_no_stranger(ws, collection, photos):
    ws.faces.ingest([collection])
    ws.enroll("Eileen Collins", [photos["astronaut"]], retro_hunt=False)
    result = ws.faces.find(name="Eileen Collins")
    assert _every_copy(result.appearances) == PLANTED and len(result.appearances) == PICTURES
    assert result.faces_searched == 4  # the four collection faces; the reference itself is not searched
    scores = [a["score"] for a in result.appearances]
    assert scores == sorted(scores, reverse=True)
    assert all(a["fmr"] <= result.comparison_fmr and a["status"] == "candidate" for a in result.appearances)
    assert result.new_candidates == 3 and _count(ws, "matches", "where status = 'candidate'") == 3
    # Nothing is confirmed by find; a second find queues no duplicate and keeps a decision.
    ws.faces.decide(result.appearances[0]["candidate_id"], "rejected")
    again = ws.faces.find(name="Eileen Collins")
    assert again.new_candidates == 0 and _count(ws, "matches") == 3
    assert again.appearances[0]["status"] == "rejected"


def test_a_stranger_is_found_nowhere(ws, collection, photos):
    ws.faces.ingest([collection / "sub", collection / "crop.jpg"])
    ws.enroll("Grace Hopper", [photos["grace_hopper"]])
    result = ws.faces.find(name="Grace Hopper")
    assert result.faces_searched == 3 and result.appearances == [] and _count(ws, "matches") == 0


def test_enrolling_hunts_the_back_catalogue_without_duplicates(ws, collection, photos, tmp_path):
    ws.faces.ingest([collection])
    first = ws.enroll("Eileen Collins", [photos["astronaut"]])
    assert first.retro_candidates == 3
    # Another reference photo of her: its own search finds the same faces, already queued.
    other = tmp_path / "another.jpg"
    astro = np.asarray(Image.open(photos["astronaut"]).convert("RGB"))
    Image.fromarray(astro[20:480, 40:480]).save(other, quality=90)
    second = ws.enroll("Eileen Collins", [other])
    assert second.references_added == 1 and second.retro_candidates == 0
    queue = ws.faces.list_matches("candidate")
    assert len(queue) == 3 and len({m["face_id"] for m in queue}) == 3


def test_find_by_photo_of_an_unknown_records_nothing(ws, collection, photos):
    ws.faces.ingest([collection])
    result = ws.faces.find(photo=photos["astronaut"])
    assert _every_copy(result.appearances) == PLANTED and len(result.appearances) == PICTURES
    assert result.person is None and _count(ws, "matches") == 0


def test_appearance_search_is_exact_and_leaves_out_excluded_faces():
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(50, 8)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    coll = CollectionFaces(np.arange(100, 150), vecs, np.ones(50, np.float32))
    ids, scores, which = appearance_search(coll, vecs[[3, 7]], exclude={103})
    assert 103 not in ids and ids[0] == 107 and which[0] == 1 and scores[0] == pytest.approx(1.0)
    full = np.max(vecs @ vecs[[3, 7]].T, axis=1)
    assert np.allclose(np.sort(scores)[::-1], np.sort(np.delete(full, 3))[::-1])


def test_cli_ingest_then_find_writes_json(collection, photos, tmp_path):
    from typer.testing import CliRunner

    from imint.cli import app

    wsp = tmp_path / "ws"
    runner = CliRunner()
    out = runner.invoke(app, ["ingest", str(collection), "--workspace", str(wsp)])
    assert out.exit_code == 0, out.output
    assert "4 analysed now" in out.output and "notes.jpg" in out.output
    out = runner.invoke(app, ["enroll", "Eileen Collins", str(photos["astronaut"]), "--workspace", str(wsp)])
    assert out.exit_code == 0 and "retro-hunt: 3 new candidate(s)" in out.output, out.output
    out = runner.invoke(
        app, ["find", "Eileen Collins", "--json", str(tmp_path / "f.json"), "--workspace", str(wsp)]
    )
    assert out.exit_code == 0, out.output
    data = json.loads((tmp_path / "f.json").read_text())
    assert len(data["appearances"]) == PICTURES and data["new_candidates"] == 0
    assert len(_every_copy(data["appearances"], "face_id")) == 3


_KILLED_CHILD = """
import sys, time
from imint.faces.collection import ingest
from imint.settings import Settings
from imint.workspace import Workspace

def stall_after_three(done, total, item):
    if done == 3:
        time.sleep(600)

ws = Workspace(settings=Settings.from_env(workspace=sys.argv[1], user="tester"))
ingest(ws.faces, [sys.argv[2]], progress=stall_after_three, batch=1)
"""


@pytest.mark.slow
def test_an_ingest_killed_with_sigkill_resumes_without_duplicates(tmp_path, collection):
    import os
    import signal
    import subprocess
    import sys
    import time

    wsp = tmp_path / "ws"
    ws = Workspace(wsp, user="tester")
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(wsp), str(collection)], env=child_env(wsp)
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and child.poll() is None and _count(ws, "face_scans") < 2:
            time.sleep(0.5)
        assert child.poll() is None, "the child ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    # One photo per transaction, killed after its third file (one of the five is not a photo): every
    # photo committed whole.
    scanned = _count(ws, "face_scans")
    assert 2 <= scanned <= 3 and _count(ws, "faces") == scanned
    report = ws.faces.ingest([collection])
    assert (report.analysed, report.reused) == (4 - scanned, scanned)
    assert _count(ws, "face_scans") == 4 and _count(ws, "faces") == 4 and _count(ws, "evidence") == 4
    per_file = query(ws, "select evidence_sha256, count(*) from faces group by evidence_sha256")
    assert all(n == 1 for _, n in per_file)


_KILLED_MID_BATCH = """
import sys, time
from pathlib import Path
import imint.faces.ingest_pipeline as pipeline
from imint.faces.collection import ingest
from imint.settings import Settings
from imint.workspace import Workspace

real_store, calls = pipeline._store_one, []

def store_then_stall_on_the_third(faces, s, work):
    out = real_store(faces, s, work)
    calls.append(work.path)
    if len(calls) == 3:  # the first of the second batch, stored in its open transaction
        Path(sys.argv[3]).write_text(work.path)
        time.sleep(600)
    return out

pipeline._store_one = store_then_stall_on_the_third
ws = Workspace(settings=Settings.from_env(workspace=sys.argv[1], user="tester"))
ingest(ws.faces, [sys.argv[2]], batch=2, workers=int(sys.argv[4]))
"""


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 2])
def test_an_ingest_killed_mid_batch_loses_that_batch_only_and_resumes_without_duplicates(
    tmp_path, collection, workers
):
    import os
    import signal
    import subprocess
    import sys
    import time

    wsp, marker = tmp_path / "ws", tmp_path / "stalled"
    ws = Workspace(wsp, user="tester")
    env = child_env(wsp)
    args = [sys.executable, "-c", _KILLED_MID_BATCH, str(wsp), str(collection), str(marker), str(workers)]
    child = subprocess.Popen(args, env=env)
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and child.poll() is None and not marker.exists():
            time.sleep(0.2)
        assert child.poll() is None and marker.exists(), "the child ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    # Batches of two photos: the first committed whole; the third photo's batch, open at the kill, is gone
    # with its file, faces and scan mark (the not-a-photo file was never stored).
    assert _count(ws, "face_scans") == 2 and _count(ws, "faces") == 2 and _count(ws, "evidence") == 2
    report = ws.faces.ingest([collection], batch=2)
    assert (report.analysed, report.reused, report.faces) == (2, 2, 2)
    assert _count(ws, "face_scans") == 4 and _count(ws, "faces") == 4 and _count(ws, "evidence") == 4
    per_file = query(ws, "select evidence_sha256, count(*) from faces group by evidence_sha256")
    analysed_marks = query(ws, "select count(*) from custody_log where action = 'faces-analysed'")[0][0]
    assert all(n == 1 for _, n in per_file) and len(per_file) == 4
    assert analysed_marks == 4  # every photo analysed once over both runs


def test_api_lists_a_persons_appearances_and_shows_a_candidate_beside_the_reference(
    tmp_path, collection, photos
):
    from fastapi.testclient import TestClient

    from imint.api.app import create_app
    from tests.api_support import make_users

    wsp = tmp_path / "ws"
    tokens = make_users(wsp)
    ws = Workspace(wsp, user="analyst")
    ws.faces.ingest([collection])
    person_id = ws.enroll("Eileen Collins", [photos["astronaut"]]).person_id
    auth = {"Authorization": f"Bearer {tokens['viewer']}", "Accept": "application/json"}
    with TestClient(create_app(wsp)) as client:
        r = client.get(f"/persons/{person_id}/appearances", headers=auth)
        assert r.status_code == 200, r.text
        found = r.json()["appearances"]
        assert _every_copy(found) == PLANTED and len(found) == PICTURES
        assert all(a["status"] == "candidate" and a["candidate_id"] for a in found)
        page = client.get(f"/persons/{person_id}", headers={**auth, "Accept": "text/html"})
        assert page.status_code == 200 and "Appearances in the collection" in page.text
        assert f"/candidates/{found[0]['candidate_id']}/pair.jpg" in page.text
        pair = client.get(f"/candidates/{found[0]['candidate_id']}/pair.jpg", headers=auth)
        assert pair.status_code == 200 and pair.headers["content-type"] == "image/jpeg"
        image = Image.open(io.BytesIO(pair.content))
        assert image.size == (408, 272)
        assert client.get("/candidates/9999/pair.jpg", headers=auth).status_code == 404
        assert client.get("/persons/9999/appearances", headers=auth).status_code == 404


@pytest.mark.slow
def test_a_video_in_the_collection_is_scanned_once_and_found_by_its_track(tmp_path, photos):
    pytest.importorskip("av")
    from tests.video_clips import moving_faces_frames, write_clip

    clip = write_clip(tmp_path / "two_faces.mp4", moving_faces_frames(seconds=2.0, fps=10), fps=10)
    ws = Workspace(tmp_path / "ws", user="analyst1")
    report = ws.faces.ingest([clip])
    assert report.videos == 1 and report.video_tracks >= 2 and not report.bad
    assert _count(ws, "video_scans") == 1 and _count(ws, "matches") == 0  # scanned, not matched
    faces_before, segments_before = _count(ws, "faces"), _count(ws, "video_segments")
    again = ws.faces.ingest([clip])
    assert again.bad == [] and (_count(ws, "faces"), _count(ws, "video_segments")) == (
        faces_before,
        segments_before,
    )
    enrolled = ws.enroll("Eileen Collins", [photos["astronaut"]])
    result = ws.faces.find(name="Eileen Collins")
    assert enrolled.retro_candidates == len(result.appearances) == 1
    (seen,) = result.appearances
    assert seen["kind"] == "video" and seen["frame_time"] is not None and seen["source"] == str(clip)


def _people_vectors(n_people, per_person, dim=64, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim))
    v = np.repeat(centres, per_person, axis=0) + rng.normal(scale=0.6, size=(n_people * per_person, dim))
    return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.parametrize("exact_below", [0, 10**6])  # the HNSW graph, and the flat index
def test_index_search_gives_the_exact_search_above_the_floors(exact_below):
    from imint.faces.collection import index_search
    from imint.faces.collection_index import CollectionIndex

    vecs = _people_vectors(600, 5)
    ids = np.arange(1000, 1000 + len(vecs))
    index = CollectionIndex.build(ids, vecs, exact_below=exact_below)
    assert index.approximate == (exact_below == 0)
    queries = vecs[[10, 11, 500]] + 0.05
    floors = np.array([0.25, 0.3, 0.25])  # about 90, 60 and 140 faces: more than the first k of 66
    got = index_search(index, queries, floors, exclude={1010, 1500})
    exact = appearance_search(CollectionFaces(ids, vecs, np.ones(len(ids))), queries, exclude={1010, 1500})
    # The faces the exact search scores at or above some query's floor, in the same order, with
    # bit-identical scores (so identical FMRs) and the same best query.
    per_query = vecs[np.isin(ids, exact[0])] @ queries.T  # order of ids
    above = set(ids[np.isin(ids, exact[0])][(per_query >= floors[None, :] - 1e-6).any(axis=1)].tolist())
    keep = np.isin(exact[0], list(above))
    assert 10 < keep.sum() < len(ids) // 4  # the floors leave a real shortlist, not everything
    np.testing.assert_array_equal(got[0], exact[0][keep])
    np.testing.assert_array_equal(got[1], exact[1][keep])
    np.testing.assert_array_equal(got[2], exact[2][keep])


def test_find_through_the_index_equals_the_exact_search_and_follows_the_database(
    ws, collection, photos, monkeypatch
):
    import imint.faces.collection as coll
    from imint.faces.collection_index import CollectionIndex, collection_index_dir

    ws.faces.ingest([collection])
    ws.enroll("Eileen Collins", [photos["astronaut"]], retro_hunt=False)
    monkeypatch.setattr(coll, "_INDEX_CACHE", {})
    via_index = ws.faces.find(name="Eileen Collins", record=False).to_dict()
    directory = collection_index_dir(ws.index_dir, ws.faces.model_id)
    saved = CollectionIndex.load(directory)
    assert len(saved) == 5  # four collection faces and the reference (left out of its own search)

    def exact(index, queries, floors, *, exclude):
        return appearance_search(
            coll.collection_faces(ws, ws.faces.model_id, queries.shape[1]), queries, exclude=exclude
        )

    with monkeypatch.context() as m:
        m.setattr(coll, "index_search", exact)
        assert ws.faces.find(name="Eileen Collins", record=False).to_dict() == via_index
    assert _every_copy(via_index["appearances"]) == PLANTED

    # A new photo is added to the saved index incrementally (no rebuild), a deleted face removed.
    builds = []
    monkeypatch.setattr(CollectionIndex, "build", classmethod(lambda cls, *a, **k: builds.append(1)))
    extra = collection.parent / "extra"
    extra.mkdir(exist_ok=True)
    Image.open(photos["astronaut"]).convert("RGB").resize((300, 300)).save(extra / "again.jpg")
    ws.faces.ingest([extra])
    after = ws.faces.find(name="Eileen Collins", record=False)
    assert len(_every_copy(after.appearances, "face_id")) == 4 and not builds
    assert len(CollectionIndex.load(directory)) == 6
    gone = after.appearances[0]["face_id"]
    execute(ws, "update faces set embedding = null where id = :id", id=gone)
    assert gone not in _every_copy(ws.faces.find(name="Eileen Collins", record=False).appearances, "face_id")
    assert not builds and len(CollectionIndex.load(directory)) == 5

    # A damaged saved index is rebuilt from the database's vectors.
    monkeypatch.undo()
    monkeypatch.setattr(coll, "_INDEX_CACHE", {})
    (directory / "meta.json").unlink()
    again = ws.faces.find(name="Eileen Collins", record=False)
    assert len(_every_copy(again.appearances, "face_id")) == 3 and len(CollectionIndex.load(directory)) == 5
