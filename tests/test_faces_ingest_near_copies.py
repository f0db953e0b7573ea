"""Near-copies found at ingest: a resized, re-encoded, mirrored copy is grouped; a different photo is not."""

from pathlib import Path

import numpy as np
from PIL import Image

from imint.faces.near_copies import near_copy_group, with_near_copies
from imint.workspace import Workspace
from tests.db_support import query


def _sha_of(ws, name):
    return next(e.sha256 for e in ws.list_evidence() if e.original_name == name)


def test_a_resized_recompressed_mirrored_copy_is_grouped_and_first_seen_is_the_original(tmp_path, photos):
    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir()
    later.mkdir()
    (first / "astronaut.png").write_bytes(photos["astronaut"].read_bytes())
    astro = np.asarray(Image.open(photos["astronaut"]).convert("RGB"))
    Image.fromarray(astro[:, ::-1]).resize((300, 300)).save(later / "repost.jpg", quality=60)
    (later / "other.jpg").write_bytes(photos["grace_hopper"].read_bytes())

    ws = Workspace(tmp_path / "ws", user="t")
    ws.faces.ingest([first])
    report = ws.faces.ingest([later])
    assert report.analysed == 2 and report.bad == []
    original, repost, other = (_sha_of(ws, n) for n in ("astronaut.png", "repost.jpg", "other.jpg"))
    with ws.session() as s:
        group = near_copy_group(s, repost)
        assert near_copy_group(s, other) is None
        assert near_copy_group(s, original)["first_seen"]["sha256"] == original
    assert group is not None
    members = {c["sha256"]: c for c in group["copies"]}
    assert set(members) == {repost, original}
    assert members[original]["mirrored"] is True and members[original]["distance"] <= 10
    assert group["first_seen"]["sha256"] == original
    assert group["first_seen"]["source"].endswith("astronaut.png")

    shown = with_near_copies(ws, [{"sha256": repost}, {"sha256": other}, {"face_id": 1}])
    assert {c["sha256"] for c in shown[0]["near_copies"]["copies"]} == {repost, original}
    assert shown[1]["near_copies"] is None and shown[2]["near_copies"] is None


def test_the_hash_computed_by_the_ingest_workers_is_the_checks_parts_own(tmp_path, photos):
    """The faces ingest hands its workers' pHash to the checks hook: the stored row is what the hook computes."""

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "gh.jpg").write_bytes(photos["grace_hopper"].read_bytes())
    via_faces = Workspace(tmp_path / "a", user="t")
    via_faces.faces.ingest([folder])
    plain = Workspace(tmp_path / "b", user="t")
    plain.ingest(folder / "gh.jpg")

    def hashes(ws):
        return query(ws, "select evidence_sha256, method, hash_hex, mirror_hex from image_hashes")

    assert hashes(via_faces) == hashes(plain) and len(hashes(plain)) == 1


def test_find_and_search_show_a_resized_recompressed_and_mirrored_copy_as_one_picture(tmp_path, photos):
    """find ranks the three copies as one appearance (strongest first, the others under it) with the
    original as "first seen"; a different photo of her stays its own appearance; search and the JSON
    twins carry the same group."""
    import json

    from fastapi.testclient import TestClient
    from typer.testing import CliRunner

    from imint.api.app import create_app
    from imint.cli import app
    from tests.api_support import make_users

    first, later = tmp_path / "first", tmp_path / "later"
    first.mkdir()
    later.mkdir()
    (first / "original.png").write_bytes(photos["astronaut"].read_bytes())
    astro = np.asarray(Image.open(photos["astronaut"]).convert("RGB"))
    Image.fromarray(astro).resize((384, 384)).save(later / "resized.png")
    Image.fromarray(astro).save(later / "recompressed.jpg", quality=40)
    Image.fromarray(astro[:, ::-1]).save(later / "mirrored.png")
    (later / "different.jpg").write_bytes(photos["astronaut_crop"].read_bytes())  # same person, other photo
    (later / "stranger.jpg").write_bytes(photos["grace_hopper"].read_bytes())

    wsp = tmp_path / "ws"
    tokens = make_users(wsp)
    ws = Workspace(wsp, user="t")
    ws.faces.ingest([first])
    ws.faces.ingest([later])
    sha = {n: _sha_of(ws, n) for n in ("original.png", "resized.png", "recompressed.jpg", "mirrored.png")}
    different, stranger = _sha_of(ws, "different.jpg"), _sha_of(ws, "stranger.jpg")
    copies = {sha["resized.png"], sha["recompressed.jpg"], sha["mirrored.png"]}
    # Enrolled from the original's bytes: its face is the reference, left out of its own search.
    person_id = ws.enroll("Eileen Collins", [photos["astronaut"]], retro_hunt=False).person_id

    result = ws.faces.find(name="Eileen Collins", record=False)
    assert len(result.appearances) == 2
    picture = next(a for a in result.appearances if a["sha256"] in copies)
    other = next(a for a in result.appearances if a is not picture)
    assert other["sha256"] == different and other["copies"] == [] and other["near_copies"] is None
    assert {picture["sha256"]} | {c["sha256"] for c in picture["copies"]} == copies
    scores = [picture["score"]] + [c["score"] for c in picture["copies"]]
    assert scores == sorted(scores, reverse=True)  # the strongest copy ranks, the others under it
    members = {c["sha256"] for c in picture["near_copies"]["copies"]}
    assert members == copies | {sha["original.png"]} and not members & {different, stranger}
    seen = picture["near_copies"]["first_seen"]
    assert seen["sha256"] == sha["original.png"] and seen["source"].endswith("original.png")

    # search: every copy carries the group; later copies among the searched files name the first one.
    found = {Path(r.path).name: r for r in ws.search([later], annotate_dir=None)}
    for name in ("resized.png", "recompressed.jpg", "mirrored.png"):
        assert found[name].near_copies["first_seen"]["sha256"] == sha["original.png"]
    assert sum(found[n].copy_of is None for n in ("resized.png", "recompressed.jpg", "mirrored.png")) == 1
    assert found["different.jpg"].near_copies is None and found["different.jpg"].copy_of is None
    assert found["stranger.jpg"].near_copies is None
    assert found["mirrored.png"].to_dict()["near_copies"] == found["mirrored.png"].near_copies

    # The JSON twins: `imint find --json` and the person's appearances over HTTP.
    out = CliRunner().invoke(
        app, ["find", "Eileen Collins", "--json", str(tmp_path / "f.json"), "--workspace", str(wsp)]
    )
    assert out.exit_code == 0, out.output
    assert "↳" in out.output and "4 copies; first seen original.png" in " ".join(out.output.split())
    data = json.loads((tmp_path / "f.json").read_text())
    ranked = next(a for a in data["appearances"] if a["sha256"] in copies)
    assert {ranked["sha256"]} | {c["sha256"] for c in ranked["copies"]} == copies
    assert ranked["near_copies"]["first_seen"]["sha256"] == sha["original.png"]
    auth = {"Authorization": f"Bearer {tokens['viewer']}", "Accept": "application/json"}
    with TestClient(create_app(wsp)) as client:
        got = client.get(f"/persons/{person_id}/appearances", headers=auth).json()["appearances"]
        assert len(got) == 2 and {c["sha256"] for a in got for c in a["copies"]} == copies - {
            ranked["sha256"]
        }
        page = client.get(f"/persons/{person_id}", headers={**auth, "Accept": "text/html"})
        assert page.status_code == 200 and "First seen" in page.text and "original.png" in page.text
