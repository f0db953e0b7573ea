"""The honest split of a ships eval folder: by source and scene (SSDD: blocks of 50 image numbers)."""

from __future__ import annotations

import pytest

from imint.errors import ValidationError
from imint.sites.evaluate import evaluate_ships, honest_parts, split_group
from tests.test_sites import _chip_folder

SSDD = "SSDD (official 2021 split, via HaoIrving/SSDD_coco)"
HRSID = "HRSID (mini_test chips)"


def _rows() -> list[dict[str, str]]:
    rows = [{"image": f"images/ssdd/{n:06d}.jpg", "source": SSDD, "scene": ""} for n in range(1, 401)]
    rows += [
        {"image": f"images/hrsid/P{s:04d}_{k}.png", "source": HRSID, "scene": f"P{s:04d}"}
        for s in range(1, 9)
        for k in range(3)
    ]
    rows += [{"image": "images/dota/P0706.png", "source": "DOTA v1", "scene": "P0706"}]
    return rows


def test_split_keeps_scenes_and_ssdd_blocks_together() -> None:
    rows = _rows()
    parts = honest_parts(rows)
    held_ssdd = sorted(
        int(r["image"][-10:-4]) for r in rows if r["source"] == SSDD and parts[r["image"]] == "heldout"
    )
    assert held_ssdd == list(range(151, 201)) + list(range(351, 401))  # blocks 3 and 7 of 0..7
    held_scenes = {r["scene"] for r in rows if r["source"] == HRSID and parts[r["image"]] == "heldout"}
    assert held_scenes == {"P0004", "P0008"}
    for group in {split_group(r) for r in rows}:  # no group on both sides
        assert len({parts[r["image"]] for r in rows if split_group(r) == group}) == 1
    assert parts["images/dota/P0706.png"] == "dev"  # fewer than 4 groups: dev only
    assert honest_parts(list(reversed(rows))) == parts  # order of images.csv does not matter


def test_eval_reports_parts_and_scores_one_part(tmp_path) -> None:
    folder = _chip_folder(tmp_path)
    result = evaluate_ships(folder, detector="cfar")
    by_part = result["by_part"]
    assert by_part["dev"]["images"] + by_part["heldout"]["images"] == result["images"] == 4
    assert "sar_at_dev_best_threshold" in by_part["heldout"] and "split_rule" in result
    # Four chips named c0..c3 with no scene: each is its own group; sorted, the 4th (c3) is held out.
    only = evaluate_ships(folder, detector="cfar", part="heldout")
    assert only["images"] == by_part["heldout"]["images"] == 1
    with pytest.raises(ValidationError, match="unknown part"):
        evaluate_ships(folder, part="test")
