"""Near-copies found at ingest: a resized, re-encoded, mirrored copy is grouped; a different photo is not."""

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
