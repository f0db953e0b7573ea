"""Enroll, search, verify and review through a workspace, as an analyst would."""

import json

import pytest

from imint.errors import BadInputError
from imint.workspace import Workspace
from tests.db_support import query


@pytest.fixture()
def ws(tmp_path):
    return Workspace(tmp_path / "ws", user="analyst1")


def test_enroll_then_find_the_person_and_call_a_stranger_unknown(ws, photos, tmp_path):
    enrolled = ws.enroll("Eileen Collins", [photos["astronaut"]], listing_reason="test")
    assert enrolled.references_added == 1

    results = ws.search(
        [photos["astronaut_crop"], photos["grace_hopper"]], annotate_dir=tmp_path / "annotated"
    )
    by_name = {r.path.rsplit("/", 1)[-1]: r for r in results}

    crop = by_name["astronaut_crop.jpg"].faces[0]
    assert crop.best is not None and crop.best.person_name == "Eileen Collins"
    assert crop.best.fmr < 1e-3 and crop.best.operating_point == "fpir=0.01"
    assert crop.best.status == "candidate"  # a match is a candidate until a person confirms it

    stranger = by_name["grace_hopper.jpg"].faces[0]
    assert stranger.best is None  # unknown
    assert stranger.candidates and not stranger.candidates[0].above_threshold

    assert all((tmp_path / "annotated").glob("*.jpg"))
    assert by_name["astronaut_crop.jpg"].annotated_path.endswith(".jpg")


def test_confirm_records_who_and_when(ws, photos):
    ws.enroll("Eileen Collins", [photos["astronaut"]])
    ws.search([photos["astronaut_crop"]])
    queue = ws.faces.list_matches("candidate")
    assert len(queue) == 1
    decision = ws.faces.decide(queue[0]["match_id"], "confirmed", note="same mission patch")
    assert decision["decided_by"] == "analyst1" and decision["decided_at"].endswith("Z")
    assert ws.faces.list_matches("candidate") == []
    # A re-run keeps the person's decision.
    again = ws.search([photos["astronaut_crop"]])[0]
    assert again.reused and again.faces[0].best.status == "confirmed"


def test_folder_run_continues_past_bad_files_and_reuses_by_hash(ws, photos, bad_files):
    ws.enroll("Eileen Collins", [photos["astronaut"]])
    folder = bad_files["text"].parent
    (folder / "good.png").write_bytes(photos["astronaut_crop"].read_bytes())
    results = ws.search([folder])
    errors = {r.path.rsplit("/", 1)[-1]: r.error for r in results if r.error}
    assert set(errors) == {"notes.jpg", "empty.jpg", "truncated.jpg", "bomb.png"}
    assert "not an image" in errors["notes.jpg"]
    good = [r for r in results if not r.error]
    assert len(good) == 1 and good[0].faces[0].best.person_name == "Eileen Collins"
    rerun = ws.search([folder / "good.png"])
    assert rerun[0].reused


def test_enroll_with_no_usable_face_stores_nothing(ws, tmp_path, bad_files):
    from PIL import Image

    blank = tmp_path / "wall.png"
    Image.new("RGB", (320, 240), (120, 120, 120)).save(blank)
    with pytest.raises(BadInputError, match="no usable reference face"):
        ws.enroll("Nobody", [blank, bad_files["text"]])
    assert ws.faces.list_persons() == []
    assert query(ws, "select count(*) from persons") == [(0,)]
    assert query(ws, "select count(*) from evidence") == [(0,)]


def test_verify_gives_score_fmr_and_decision(ws, photos):
    same = ws.verify(photos["astronaut"], photos["astronaut_crop"])
    assert same.same_person and same.fmr < 1e-3
    different = ws.verify(photos["astronaut"], photos["grace_hopper"])
    assert not different.same_person and different.fmr > 1e-3


def test_search_results_serialise_to_json(ws, photos):
    ws.enroll("Eileen Collins", [photos["astronaut"]])
    data = json.loads(json.dumps([r.to_dict() for r in ws.search([photos["astronaut_crop"]])]))
    face = data[0]["faces"][0]
    assert data[0]["sha256"] and len(face["box"]) == 4
    assert {"quality", "quality_reason", "candidates", "identity"} <= set(face)
    assert face["candidates"][0]["fmr"] < 1e-3


def test_index_survives_reopen_and_follows_removal(tmp_path, photos):
    ws = Workspace(tmp_path / "ws")
    ws.enroll("Eileen Collins", [photos["astronaut"]])
    ws.close()
    reopened = Workspace(tmp_path / "ws")
    assert reopened.search([photos["astronaut_crop"]])[0].faces[0].best.person_name == "Eileen Collins"
    reopened.faces.remove_person("Eileen Collins")
    assert reopened.search([photos["astronaut_crop"]])[0].faces[0].best is None


def test_milvus_index_gives_the_same_answers(tmp_path, photos):
    """The distributed index (milvus-lite here) behind the same interface as FAISS."""
    from imint.settings import Settings

    # What `IMINT_MILVUS_URI` gives a command: the settings name the index, nothing reads the environment.
    settings = Settings.from_env({"IMINT_MILVUS_URI": str(tmp_path / "milvus.db")}, workspace=tmp_path / "ws")
    ws = Workspace(settings=settings)
    ws.enroll("Eileen Collins", [photos["astronaut"]])
    ws.enroll("Grace Hopper", [photos["grace_hopper"]])
    index, _ = ws.faces.reference_index()
    assert type(index).__name__ == "MilvusIndex" and len(index) == 2
    hit = ws.search([photos["astronaut_crop"]])[0].faces[0].best
    assert hit is not None and hit.person_name == "Eileen Collins"
    ws.faces.remove_person("Eileen Collins")
    index, _ = ws.faces.reference_index()
    assert len(index) == 1  # kept consistent on delete
    assert ws.search([photos["astronaut_crop"]])[0].faces[0].best is None


def test_a_face_is_taken_for_its_best_ranked_candidate_above_the_operating_point():
    from imint.faces.service import identified_as
    from imint.records import Candidate

    def candidate(rank, above):
        return Candidate(rank, f"person {rank}", 0.5 - rank / 10, 1e-4, rank, "fpir=0.01", above)

    # A lower-ranked candidate can clear its own threshold (its reference is of another quality).
    assert identified_as([candidate(1, False), candidate(2, True), candidate(3, True)]).rank == 2
    assert identified_as([candidate(1, False), candidate(2, False)]) is None
    assert identified_as([]) is None


def test_a_candidate_carries_its_id_and_claims_link_it_by_either_name(ws, photos):
    from imint import cases

    ws.enroll("Eileen Collins", [photos["astronaut"]])
    (result,) = ws.search([photos["astronaut_crop"]])
    best = result.faces[0].best
    (queued,) = ws.faces.list_matches("candidate")
    assert best.id is not None and best.id == queued["id"] == queued["match_id"]
    assert result.to_dict()["faces"][0]["candidates"][0]["id"] == best.id
    # Below the operating point nothing is stored, so such a candidate has no id.
    assert all(c.id is None for c in result.faces[0].candidates if not c.above_threshold)

    cases.create_case(ws, "c1")
    claim = cases.add_claim(ws, "c1", "the astronaut is Eileen Collins")
    new = cases.link_claim(ws, claim.id, "supports", record=f"candidate:{best.id}")
    old = cases.link_claim(ws, claim.id, "context", record=f"match:{best.id}")  # the older name
    assert new.evidence_sha256 == old.evidence_sha256 == result.evidence.sha256


def test_the_faces_part_gives_the_evidence_page_its_faces(ws, photos):
    ws.enroll("Eileen Collins", [photos["astronaut"]])
    (result,) = ws.search([photos["astronaut_crop"]])
    section = ws.parts.get("faces").evidence_view(ws, result.evidence.sha256)
    (face,) = section["faces"]
    assert face["id"] == result.faces[0].face_id and face["frame_time"] is None
    (cand,) = face["candidates"]
    assert cand["person"] == "Eileen Collins" and cand["evidence_sha256"] == result.evidence.sha256


def test_the_gallery_lock_excludes_other_processes(ws, tmp_path):
    import subprocess
    import sys

    from imint.faces.gallery import gallery_lock

    probe = (
        "import fcntl, sys\n"
        "fh = open(sys.argv[1], 'a')\n"
        "try:\n"
        "    fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)\n"
        "except BlockingIOError:\n"
        "    sys.exit(3)\n"
    )
    lock_file = ws.index_dir / "gallery.lock"
    pytest.importorskip("fcntl")
    with gallery_lock(ws), gallery_lock(ws):  # re-entrant in one thread (a promotion enrolls)
        held = subprocess.run([sys.executable, "-c", probe, str(lock_file)], check=False)
    free = subprocess.run([sys.executable, "-c", probe, str(lock_file)], check=False)
    assert (held.returncode, free.returncode) == (3, 0)


def test_the_gallery_lock_serialises_threads(ws):
    import threading
    import time

    from imint.faces.gallery import gallery_lock

    inside, most = [0], [0]

    def writer() -> None:
        with gallery_lock(ws):
            inside[0] += 1
            most[0] = max(most[0], inside[0])
            time.sleep(0.02)
            inside[0] -= 1

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert most[0] == 1
