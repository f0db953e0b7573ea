"""Fixtures made at test time from public-domain images that ship inside installed packages.

- scikit-image's ``astronaut`` (NASA portrait of Eileen Collins, public domain)
- matplotlib's ``grace_hopper.jpg`` (US Navy portrait, public domain)
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image


def astronaut() -> np.ndarray:
    from skimage import data

    return data.astronaut()


def grace_hopper() -> np.ndarray:
    import matplotlib.cbook as cbook

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        return np.asarray(im.convert("RGB"))


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A PNG that claims to be width x height pixels: a decompression bomb's header."""

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 16))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture(scope="session")
def photos(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("photos")
    out = {}
    astro = astronaut()
    Image.fromarray(astro).save(d / "astronaut.png")
    out["astronaut"] = d / "astronaut.png"
    # Another view of the same person: cropped, shrunk and re-encoded as JPEG.
    Image.fromarray(astro[10:400, 60:460]).resize((300, 293)).save(d / "astronaut_crop.jpg", quality=85)
    out["astronaut_crop"] = d / "astronaut_crop.jpg"
    Image.fromarray(grace_hopper()).save(d / "grace_hopper.jpg", quality=92)
    out["grace_hopper"] = d / "grace_hopper.jpg"
    return out


@pytest.fixture(scope="session")
def bad_files(tmp_path_factory, photos) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    text = d / "notes.jpg"
    text.write_text("this is a text file with an image's name\n")
    empty = d / "empty.jpg"
    empty.write_bytes(b"")
    truncated = d / "truncated.jpg"
    truncated.write_bytes(photos["grace_hopper"].read_bytes()[:3000])
    bomb = png_header_only(d / "bomb.png", 50_000, 50_000)
    return {"text": text, "empty": empty, "truncated": truncated, "bomb": bomb}
