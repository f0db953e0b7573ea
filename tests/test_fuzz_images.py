"""Fuzzing the image readers: decode_image, load_image_file and Workspace.ingest (with its cheap checks).

Seeds are a real JPEG (with EXIF) and a real PNG made at test time; the checks part's metadata,
C2PA and hash checks run inside every ingest, so a crash there shows as an ``unexpected`` result.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st
from PIL import Image

from imint.checks.runner import stored_results
from imint.media.images import decode_image, load_image_file
from imint.workspace import Workspace
from tests.fuzz_support import (
    FAST_EXAMPLES,
    SLOW_EXAMPLES,
    counts,
    crasher_files,
    every_object_present,
    fuzz_bytes,
    refused_or_accepted,
    run_fuzz,
    store_state,
)


def _astronaut(side: int) -> np.ndarray:
    from skimage import data

    return np.ascontiguousarray(data.astronaut()[::8, ::8][:side, :side])


def jpeg_seed() -> bytes:
    img = Image.fromarray(_astronaut(48))
    exif = img.getexif()
    exif[0x010F], exif[0x0131] = "FuzzMaker", "GIMP 2.10"
    exif[0x8769] = {0x9003: "2024:07:10 14:30:00", 0x9011: "+03:00"}
    exif[0x8825] = {1: "N", 2: (50.0, 27.0, 0.0), 3: "E", 4: (30.0, 31.0, 24.0)}
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=80, exif=exif.tobytes())
    return buf.getvalue()


def png_seed() -> bytes:
    buf = io.BytesIO()
    Image.fromarray(_astronaut(24)).convert("RGBA").save(buf, format="PNG")
    return buf.getvalue()


pytestmark = pytest.mark.filterwarnings("ignore")  # PIL warns on every corrupt EXIF block

JPEG, PNG = jpeg_seed(), png_seed()
IMAGE_INPUTS = st.one_of(fuzz_bytes(JPEG), fuzz_bytes(PNG))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A workspace holding one good photo, and the state of that record."""
    root = tmp_path_factory.mktemp("fuzz-images")
    good = root / "good.jpg"
    good.write_bytes(JPEG)
    ws = Workspace(root / "ws")
    ev = ws.ingest(good)
    yield ws, ev.sha256, store_state(ws, ev.sha256), root / "inputs"
    ws.close()


_names = itertools.count()


def _check_decode(data: bytes) -> None:
    ok, out = refused_or_accepted(lambda: decode_image(data, "fuzz.jpg"))
    if ok:
        assert out.dtype == np.uint8 and out.ndim == 3 and out.shape[2] == 3
    else:
        assert "fuzz.jpg" in str(out)


def _check_file_and_ingest(store, data: bytes) -> None:  # noqa: ANN001
    ws, good_sha, good_state, folder = store
    if hashlib.sha256(data).hexdigest() == good_sha:
        return  # the good photo's own bytes: a seen-again entry is right, not a change
    folder.mkdir(exist_ok=True)
    path = folder / f"in{next(_names)}.jpg"
    path.write_bytes(data)
    ok, out = refused_or_accepted(lambda: load_image_file(path))
    if not ok:
        assert path.name in str(out)
    before = counts(ws)
    ok, ev = refused_or_accepted(lambda: ws.ingest(path, source="fuzz"))
    after = counts(ws)
    if ok:
        assert after[0] - before[0] in (0, 1)
        unexpected = [r for r in stored_results(ws, ev.sha256) if r.details.get("error_type") == "unexpected"]
        assert not unexpected, unexpected[0].summary
    else:
        assert after == before, "a refused ingest stored something"
    assert store_state(ws, good_sha) == good_state
    path.unlink()


def test_fuzz_decode_image(store) -> None:
    run_fuzz(IMAGE_INPUTS, _check_decode, FAST_EXAMPLES, "image-decode")
    ws, good_sha, good_state, _ = store
    assert store_state(ws, good_sha) == good_state


@pytest.mark.long
def test_fuzz_decode_image_slow() -> None:
    run_fuzz(IMAGE_INPUTS, _check_decode, SLOW_EXAMPLES, "image-decode")


def test_fuzz_image_file_and_ingest(store) -> None:
    run_fuzz(IMAGE_INPUTS, lambda data: _check_file_and_ingest(store, data), FAST_EXAMPLES, "image-ingest")
    every_object_present(store[0])


@pytest.mark.long
def test_fuzz_image_file_and_ingest_slow(store) -> None:
    run_fuzz(IMAGE_INPUTS, lambda data: _check_file_and_ingest(store, data), SLOW_EXAMPLES, "image-ingest")
    every_object_present(store[0])


@pytest.mark.parametrize("crasher", crasher_files("image-"), ids=lambda p: p.name)
def test_image_crashers_stay_fixed(store, crasher: Path) -> None:
    data = crasher.read_bytes()
    _check_decode(data)
    _check_file_and_ingest(store, data)
