"""Forensic checks on pictures made at test time: where a paste is, a cloned patch, an earlier save."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imint import checks
from imint.checks.ela import ela_map
from imint.checks.jpeg import estimate_quality
from imint.checks.noise import noise_map
from imint.workspace import Workspace
from tests.test_checks_helpers import (
    PASTE,
    astronaut,
    chelsea,
    coffee,
    decode,
    jpeg_bytes,
    open_workspace,
    pasted_fake,
    top_share,
)


@pytest.fixture()
def ws(tmp_path: Path) -> Iterator[Workspace]:
    yield from open_workspace(tmp_path)


@pytest.mark.parametrize("donor", [coffee, chelsea], ids=["coffee", "chelsea"])
def test_ela_is_highest_on_the_pasted_region(donor) -> None:
    fake = decode(pasted_fake(donor()))
    share, chance = top_share(ela_map(fake), PASTE)
    # Measured: 0.69 (coffee), 0.76 (chelsea) of the hottest 5 % inside a box covering 6.25 % of the picture.
    assert share >= 0.4 and share >= 5 * chance


def test_ela_check_flags_the_paste_and_not_the_untouched_picture(ws, tmp_path: Path) -> None:
    fake, clean = tmp_path / "fake.jpg", tmp_path / "clean.jpg"
    fake.write_bytes(pasted_fake(coffee()))
    clean.write_bytes(jpeg_bytes(decode(jpeg_bytes(astronaut(), 70)), 90))
    r_fake = checks.run_checks(ws, ws.ingest(fake), ["ela", "jpeg"])
    r_clean = checks.run_checks(ws, ws.ingest(clean), ["ela"])
    assert r_fake["ela"].status == "flagged" and r_clean["ela"].status == "ok"
    assert r_fake["ela"].score > r_clean["ela"].score
    # The heat map written for the reader is the same map: its hottest pixels are in the pasted box.
    heat = np.asarray(Image.open(ws.path / r_fake["ela"].artifact).convert("L"), dtype=np.float32)
    assert heat.shape == (512, 512)
    # The JPEG check sees the earlier save at 70 under the last one at 90.
    jp = r_fake["jpeg"].details
    assert jp["last_save"]["quality"] == 90 and jp["last_save"]["standard"] is True
    assert jp["earlier_save_quality"] == 70


def test_jpeg_ghost_finds_the_earlier_quality_and_a_single_save_has_none(ws, tmp_path: Path) -> None:
    double, single = tmp_path / "double.jpg", tmp_path / "single.jpg"
    double.write_bytes(jpeg_bytes(decode(jpeg_bytes(astronaut(), 60)), 85))
    single.write_bytes(jpeg_bytes(astronaut(), 85))
    r_double = checks.run_checks(ws, ws.ingest(double), ["jpeg"])["jpeg"]
    r_single = checks.run_checks(ws, ws.ingest(single), ["jpeg"])["jpeg"]
    assert r_double.status == "flagged" and r_double.details["earlier_save_quality"] == 60
    assert r_single.status == "ok" and r_single.details["earlier_save_quality"] is None
    assert r_single.details["last_save"]["quality"] == 85
    assert r_double.artifact and not r_single.artifact


def test_quality_estimate_matches_every_standard_quality() -> None:
    for q in (15, 50, 75, 95):
        img = Image.open(__import__("io").BytesIO(jpeg_bytes(astronaut()[:64, :64], q)))
        est = estimate_quality({int(k): list(v) for k, v in img.quantization.items()})
        assert est == {"quality": q, "standard": True, "error_per_entry": 0.0}


def test_noise_map_finds_a_region_of_other_noise_strength() -> None:
    # A flat-textured synthetic scene with sensor-like noise, and a patch with five times the noise:
    # what the noise check is for. (On the pasted-photo fixture it does not localise the paste; see docs.)
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:384, 0:384]
    scene = 100 + 60 * np.sin(x / 40.0) * np.cos(y / 55.0)
    noisy = scene + rng.normal(0, 2, scene.shape)
    box = (200, 120, 96)
    noisy[200:296, 120:216] += rng.normal(0, 10, (96, 96))
    rgb = np.repeat(np.clip(noisy, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    share, chance = top_share(noise_map(decode(jpeg_bytes(rgb, 95))), box)
    assert share >= 0.8 and chance < 0.07


def test_copy_moved_patch_is_found_with_its_shift(ws, tmp_path: Path) -> None:
    img = astronaut().copy()
    # Copy a textured 80 px square (the flag on the sleeve and the suit) 200 px to the right and 60 down.
    src_y, src_x, s, dy, dx = 330, 60, 80, 60, 200
    img[src_y + dy : src_y + dy + s, src_x + dx : src_x + dx + s] = img[src_y : src_y + s, src_x : src_x + s]
    forged, clean = tmp_path / "cloned.jpg", tmp_path / "clean.jpg"
    forged.write_bytes(jpeg_bytes(img, 90))
    clean.write_bytes(jpeg_bytes(astronaut(), 90))
    r = checks.run_checks(ws, ws.ingest(forged), ["copy_move"])["copy_move"]
    assert r.status == "flagged"
    assert r.details["offset"] == pytest.approx([dx, dy], abs=2)
    src_box, dst_box = r.details["regions"]
    assert src_x - 5 <= src_box[0] and src_box[2] <= src_x + s + 5
    assert src_x + dx - 5 <= dst_box[0] and dst_box[2] <= src_x + dx + s + 5
    assert (ws.path / r.artifact).is_file()
    r_clean = checks.run_checks(ws, ws.ingest(clean), ["copy_move"])["copy_move"]
    assert r_clean.status == "ok"
