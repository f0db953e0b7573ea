"""Faces over HTTP: enroll, search, review, verify, each recorded in the audit log."""

from __future__ import annotations

from tests.api_support import astronaut_jpeg, hopper_jpeg, site  # noqa: F401 - pytest fixture
from tests.db_support import query


def _enroll(site, name: str = "Eileen Collins", notes: str = "astronaut"):  # noqa: ANN001, ANN202, F811
    return site.client.post(
        "/persons",
        data={"name": name, "notes": notes},
        files=[("photos", ("collins.jpg", astronaut_jpeg(), "image/jpeg"))],
        headers=site.auth("analyst"),
    )


def _audit(site, action: str) -> list[dict]:  # noqa: ANN001, F811
    return site.client.get(f"/audit.json?action={action}", headers=site.auth("admin")).json()["entries"]


def test_enroll_then_search_finds_the_person_and_both_are_audited(site):  # noqa: F811
    r = _enroll(site)
    assert r.status_code == 201, r.text
    enrolled = r.json()
    assert enrolled["references_added"] == 1 and enrolled["person_id"]

    person = site.client.get(f"/persons/{enrolled['person_id']}.json", headers=site.auth("viewer")).json()
    assert person["person"]["name"] == "Eileen Collins" and len(person["references"]) == 1

    r = site.client.post(
        "/search",
        files=[("files", ("mirrored.jpg", astronaut_jpeg(flip=True), "image/jpeg"))],
        headers=site.auth("analyst"),
    )
    assert r.status_code == 200, r.text
    (result,) = r.json()["results"]
    assert result["path"] == "mirrored.jpg"  # the client's name, not a server path
    assert [f["identity"] for f in result["faces"]] == ["Eileen Collins"]

    (enroll_entry,) = _audit(site, "enroll")
    assert enroll_entry["actor"] == "analyst" and enroll_entry["target"] == "Eileen Collins"
    (search_entry,) = _audit(site, "search")
    assert search_entry["target"] == result["sha256"] and search_entry["details"]["identities"] == [
        "Eileen Collins"
    ]
    assert search_entry["ip"] and search_entry["via"] == "token"

    evidence = site.client.get(f"/evidence/{result['sha256']}.json", headers=site.auth("viewer")).json()
    (face,) = evidence["faces"]
    assert face["candidates"][0]["person"] == "Eileen Collins"
    crop = site.client.get(f"/faces/{face['id']}/crop", headers=site.auth("viewer"))
    assert crop.status_code == 200 and crop.headers["content-type"] == "image/jpeg"
    assert crop.content[:3] == b"\xff\xd8\xff"


def test_confirming_a_candidate_records_who_in_the_match_custody_and_audit(site):  # noqa: F811
    _enroll(site)
    site.client.post(
        "/search",
        files=[("files", ("mirrored.jpg", astronaut_jpeg(flip=True), "image/jpeg"))],
        headers=site.auth("analyst"),
    )
    (match,) = site.client.get("/review.json", headers=site.auth("viewer")).json()["matches"]
    r = site.client.post(
        f"/candidates/{match['id']}/confirm",
        data={"note": "same mission patch"},
        headers=site.auth("analyst"),
    )
    assert r.status_code == 200, r.text
    decided = r.json()
    assert decided["status"] == "confirmed" and decided["decided_by"] == "analyst"
    assert decided["note"] == "same mission patch"
    assert site.client.get("/review.json", headers=site.auth("viewer")).json()["matches"] == []

    (entry,) = _audit(site, "confirm")
    assert entry["actor"] == "analyst" and entry["details"]["person"] == "Eileen Collins"
    actors = query(site.workspace, "SELECT actor FROM custody_log WHERE action = 'match-confirmed'")
    assert actors == [("analyst",)]  # the custody log names the analyst, not the server


def test_rejecting_through_htmx_returns_the_updated_row(site):  # noqa: F811
    _enroll(site)
    site.client.post(
        "/search",
        files=[("files", ("m.jpg", astronaut_jpeg(flip=True), "image/jpeg"))],
        headers=site.auth("analyst"),
    )
    (match,) = site.client.get("/review.json", headers=site.auth("viewer")).json()["matches"]
    headers = {"Authorization": site.auth("analyst")["Authorization"], "HX-Request": "true"}
    r = site.client.post(f"/candidates/{match['id']}/reject", headers=headers)
    assert r.status_code == 200 and r.text.lstrip().startswith(f'<tr id="match-{match["id"]}"')
    assert "rejected" in r.text


def test_several_files_become_a_job_with_progress(site):  # noqa: F811
    _enroll(site)
    r = site.client.post(
        "/search",
        files=[
            ("files", ("a.jpg", astronaut_jpeg(flip=True), "image/jpeg")),
            ("files", ("b.jpg", hopper_jpeg(), "image/jpeg")),
        ],
        headers=site.auth("analyst"),
    )
    assert r.status_code == 202, r.text
    assert site.app.state.jobs.wait_idle(120)
    job = site.client.get(r.json()["job"], headers=site.auth("viewer")).json()["job"]
    assert job["status"] == "done" and (job["progress_done"], job["progress_total"]) == (2, 2)
    names = [e["name"] for e in job["result"]["evidence"]]
    assert names == ["a.jpg", "b.jpg"]
    assert job["result"]["evidence"][0]["identities"] == ["Eileen Collins"]


def test_a_folder_in_the_inbox_is_searched_as_a_job(site):  # noqa: F811
    _enroll(site)
    batch = site.workspace / "inbox" / "batch"
    batch.mkdir(parents=True)
    (batch / "one.jpg").write_bytes(astronaut_jpeg(flip=True))
    (batch / "notes.txt").write_text("not a photo")
    r = site.client.post("/search/folder", data={"folder": "batch"}, headers=site.auth("analyst"))
    assert r.status_code == 202, r.text
    assert site.app.state.jobs.wait_idle(120)
    job = site.client.get(r.json()["job"], headers=site.auth("viewer")).json()["job"]
    assert job["status"] == "done" and job["progress_total"] == 1
    assert job["result"]["evidence"][0]["name"] == "batch/one.jpg"  # relative to the inbox


def test_search_by_stored_evidence_hash(site):  # noqa: F811
    _enroll(site)
    first = site.client.post(
        "/search",
        files=[("files", ("m.jpg", astronaut_jpeg(flip=True), "image/jpeg"))],
        headers=site.auth("analyst"),
    ).json()["results"][0]
    again = site.client.post("/search", data={"evidence": first["sha256"][:16]}, headers=site.auth("analyst"))
    assert again.status_code == 200, again.text
    assert again.json()["results"][0]["reused_earlier_analysis"] is True


def test_verify_compares_two_photos(site):  # noqa: F811
    r = site.client.post(
        "/verify",
        files=[
            ("a", ("a.jpg", astronaut_jpeg(), "image/jpeg")),
            ("b", ("b.jpg", astronaut_jpeg(flip=True), "image/jpeg")),
        ],
        headers=site.auth("analyst"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["same_person"] is True
    assert _audit(site, "verify")[0]["target"] == "a.jpg vs b.jpg"


def test_a_photo_without_a_face_cannot_enroll_and_nothing_is_stored(site):  # noqa: F811
    import numpy as np

    from tests.api_support import jpeg_bytes

    blank = jpeg_bytes(np.full((200, 200, 3), 128, np.uint8))
    r = site.client.post(
        "/persons",
        data={"name": "Nobody"},
        files=[("photos", ("wall.jpg", blank, "image/jpeg"))],
        headers=site.auth("analyst"),
    )
    assert r.status_code == 422 and "Nobody" in r.json()["detail"]
    assert site.client.get("/persons.json", headers=site.auth("viewer")).json()["persons"] == []
    assert _audit(site, "enroll")[0]["outcome"] == "failed"


def test_clusters_run_as_a_job_then_merge_split_and_promote(site):  # noqa: F811
    # Three unknown faces: Collins twice (full size and half size), Hopper once; nobody is enrolled.
    from skimage import data

    from tests.api_support import jpeg_bytes

    smaller = jpeg_bytes(data.astronaut()[::2, ::2].copy())
    for name, body in (("a.jpg", astronaut_jpeg()), ("b.jpg", smaller), ("h.jpg", hopper_jpeg())):
        r = site.client.post(
            "/search", files=[("files", (name, body, "image/jpeg"))], headers=site.auth("analyst")
        )
        assert r.status_code == 200, r.text
    r = site.client.post("/clusters/run", headers=site.auth("analyst"))
    assert r.status_code == 202
    assert site.app.state.jobs.wait_idle(120)
    job = site.client.get(r.json()["job"], headers=site.auth("viewer")).json()["job"]
    assert job["status"] == "done", job
    clusters = site.client.get("/clusters.json", headers=site.auth("viewer")).json()["clusters"]
    assert sorted(c["faces"] for c in clusters) == [1, 2]  # Collins together, Hopper alone
    collins = next(c for c in clusters if c["faces"] == 2)
    hopper = next(c for c in clusters if c["faces"] == 1)

    faces = site.client.get(f"/clusters/{collins['id']}.json", headers=site.auth("viewer")).json()["faces"]
    split = site.client.post(
        f"/clusters/{collins['id']}/split", data={"face_ids": [faces[1]["id"]]}, headers=site.auth("analyst")
    )
    assert split.status_code == 200, split.text
    merged = site.client.post(
        "/clusters/merge",
        data={"cluster_ids": [collins["id"], split.json()["new_cluster_id"]]},
        headers=site.auth("analyst"),
    )
    assert merged.status_code == 200 and merged.json()["cluster_id"] == collins["id"]

    promoted = site.client.post(
        f"/clusters/{collins['id']}/promote", data={"name": "Eileen Collins"}, headers=site.auth("analyst")
    )
    assert promoted.status_code == 201, promoted.text
    person = site.client.get(
        f"/persons/{promoted.json()['person_id']}.json", headers=site.auth("viewer")
    ).json()
    assert person["person"]["name"] == "Eileen Collins" and len(person["references"]) == 2
    actions = [
        e["action"] for e in site.client.get("/audit.json", headers=site.auth("admin")).json()["entries"]
    ]
    assert {"cluster-run", "cluster-split", "cluster-merge", "enroll"} <= set(actions)
    assert hopper["id"] != collins["id"]


def test_edit_and_remove_a_person(site):  # noqa: F811
    pid = _enroll(site).json()["person_id"]
    r = site.client.post(
        f"/persons/{pid}/update",
        data={"name": "Eileen M. Collins", "aliases": "Collins, EMC", "notes": "STS-93"},
        headers=site.auth("analyst"),
    )
    assert r.status_code == 200, r.text
    assert (r.json()["name"], r.json()["aliases"], r.json()["notes"]) == (
        "Eileen M. Collins",
        ["Collins", "EMC"],
        "STS-93",
    )
    r = site.client.post(f"/persons/{pid}/delete", headers=site.auth("analyst"))
    assert r.status_code == 200
    assert site.client.get(f"/persons/{pid}.json", headers=site.auth("viewer")).status_code == 404
    assert {"person-update", "person-delete"} <= {e["action"] for e in _audit_all(site)}


def _audit_all(site) -> list[dict]:  # noqa: ANN001, F811
    return site.client.get("/audit.json", headers=site.auth("admin")).json()["entries"]


def test_a_video_upload_becomes_a_job(site, tmp_path):  # noqa: F811
    from imint.faces.search import video_search_available
    from tests.api_support import astronaut_clip

    _enroll(site)
    clip = astronaut_clip(tmp_path / "clip.mp4")
    r = site.client.post(
        "/search",
        files=[("files", ("clip.mp4", clip.read_bytes(), "video/mp4"))],
        headers=site.auth("analyst"),
    )
    assert r.status_code == 202, r.text  # a video is long work: always a job
    assert site.app.state.jobs.wait_idle(300)
    job = site.client.get(r.json()["job"], headers=site.auth("viewer")).json()["job"]
    assert job["status"] == "done" and job["progress_done"] == 1
    if not video_search_available():  # a build without video support says so, by file
        assert job["result"]["failed"][0]["name"] == "clip.mp4"
    else:
        (found,) = job["result"]["evidence"]
        assert found["identities"] == ["Eileen Collins"] and found["appearances"]
        faces = site.client.get(f"/evidence/{found['sha256']}.json", headers=site.auth("viewer")).json()[
            "faces"
        ]
        assert faces and faces[0]["frame_time"] is not None
        crop = site.client.get(f"/faces/{faces[0]['id']}/crop", headers=site.auth("viewer"))
        assert crop.status_code == 200 and crop.content[:3] == b"\xff\xd8\xff"
