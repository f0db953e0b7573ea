"""Fuzzing the checks part's readers: web captures (ingest_capture on WACZ, WARC, WARC.gz) and metadata.

Seeds are made at test time: a WACZ (zip with datapackage.json and a gzipped WARC of two image
responses), the bare WARC in both forms, and photos carrying EXIF + XMP + IPTC (JPEG) and EXIF (HEIC).
The metadata check runs on every ingest (the cheap group); a result of error_type ``unexpected`` is an
exception that was not an ImintError, so it counts as a crash here.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import itertools
from pathlib import Path

import pytest
from hypothesis import strategies as st
from PIL import Image

from imint.checks import run_checks
from imint.checks.capture import ingest_capture
from imint.checks.runner import stored_results
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
from tests.test_checks_capture import _wacz, _warc
from tests.test_fuzz_images import JPEG, PNG

pytestmark = pytest.mark.filterwarnings("ignore")

WARC_GZ = _warc(
    [
        ("https://example.org/a.jpg", "image/jpeg", JPEG, "200 OK"),
        ("https://example.org/b.png", "image/png; charset=x", PNG, "200 OK"),
        ("https://example.org/gone.jpg", "image/jpeg", b"", "404 Not Found"),
    ]
)
WARC = gzip.decompress(WARC_GZ)


def metadata_jpeg() -> bytes:
    import pyexiv2

    img = pyexiv2.ImageData(JPEG)
    try:
        img.modify_xmp({"Xmp.xmp.CreatorTool": "Adobe Photoshop 25.0", "Xmp.photoshop.History": "cropped"})
        img.modify_iptc({"Iptc.Application2.Caption": "harbour", "Iptc.Application2.City": "Odesa"})
        return img.get_bytes()
    finally:
        img.close()


def heic_seed() -> bytes:
    import pillow_heif

    pillow_heif.register_heif_opener()
    img = Image.open(io.BytesIO(JPEG))
    buf = io.BytesIO()
    img.save(buf, format="HEIF", exif=img.getexif().tobytes(), quality=50)
    return buf.getvalue()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-checks")
    seeds = root / "seeds"
    seeds.mkdir()
    wacz = _wacz(seeds / "good.wacz", WARC_GZ).read_bytes()
    (root / "good.gif").write_bytes(_gif())
    ws = Workspace(root / "ws")
    photo = ws.ingest(root / "good.gif")
    archive = ingest_capture(ws, seeds / "good.wacz").archive
    states = {sha: store_state(ws, sha) for sha in (photo.sha256, archive.sha256)}
    yield ws, states, root / "inputs", wacz
    ws.close()


def _gif() -> bytes:
    buf = io.BytesIO()
    Image.new("P", (8, 8), 3).save(buf, format="GIF")
    return buf.getvalue()


_names = itertools.count()


def _intact(ws, states) -> None:  # noqa: ANN001
    for sha, state in states.items():
        assert store_state(ws, sha) == state


def _check_capture(store, item: tuple[str, bytes]) -> None:  # noqa: ANN001
    ws, states, folder, _ = store
    suffix, data = item
    if hashlib.sha256(data).hexdigest() in states:
        return
    folder.mkdir(exist_ok=True)
    path = folder / f"capture{next(_names)}{suffix}"
    path.write_bytes(data)
    before = counts(ws)
    ok, out = refused_or_accepted(lambda: ingest_capture(ws, path))
    if ok:
        for ev in (out.archive, *out.images):
            unexpected = [
                r for r in stored_results(ws, ev.sha256) if r.details.get("error_type") == "unexpected"
            ]
            assert not unexpected, unexpected[0].summary
    else:
        assert path.name in str(out)
        assert counts(ws) == before, "a refused capture stored something"
    _intact(ws, states)
    path.unlink()


def _check_metadata(store, data: bytes) -> None:  # noqa: ANN001
    ws, states, folder, _ = store
    if hashlib.sha256(data).hexdigest() in states:
        return
    folder.mkdir(exist_ok=True)
    path = folder / f"photo{next(_names)}.jpg"
    path.write_bytes(data)
    before = counts(ws)
    ok, ev = refused_or_accepted(lambda: ws.ingest(path))
    if ok:
        results = stored_results(ws, ev.sha256) if ev.is_new else run_checks(ws, ev, ["metadata"]).results
        unexpected = [r for r in results if r.details.get("error_type") == "unexpected"]
        assert not unexpected, unexpected[0].summary
    else:
        assert counts(ws) == before
    _intact(ws, states)
    path.unlink()


def _captures(store) -> st.SearchStrategy[tuple[str, bytes]]:  # noqa: ANN001
    wacz = store[3]
    return st.one_of(
        st.tuples(st.just(".wacz"), fuzz_bytes(wacz)),
        st.tuples(st.just(".warc.gz"), fuzz_bytes(WARC_GZ)),
        st.tuples(st.just(".warc"), fuzz_bytes(WARC)),
    )


METADATA_INPUTS = st.one_of(fuzz_bytes(metadata_jpeg()), fuzz_bytes(heic_seed()))


def test_fuzz_capture(store) -> None:
    run_fuzz(_captures(store), lambda item: _check_capture(store, item), FAST_EXAMPLES, "capture")
    every_object_present(store[0])


@pytest.mark.long
def test_fuzz_capture_slow(store) -> None:
    run_fuzz(_captures(store), lambda item: _check_capture(store, item), SLOW_EXAMPLES, "capture")
    every_object_present(store[0])


def test_fuzz_metadata(store) -> None:
    run_fuzz(METADATA_INPUTS, lambda data: _check_metadata(store, data), FAST_EXAMPLES, "metadata")
    every_object_present(store[0])


@pytest.mark.long
def test_fuzz_metadata_slow(store) -> None:
    run_fuzz(METADATA_INPUTS, lambda data: _check_metadata(store, data), SLOW_EXAMPLES, "metadata")
    every_object_present(store[0])


@pytest.mark.parametrize("crasher", crasher_files("capture-"), ids=lambda p: p.name)
def test_capture_crashers_stay_fixed(store, crasher: Path) -> None:
    suffix = next(s for s in (".warc.gz", ".warc", ".wacz") if crasher.name.endswith(s))
    _check_capture(store, (suffix, crasher.read_bytes()))


@pytest.mark.parametrize("crasher", crasher_files("metadata-"), ids=lambda p: p.name)
def test_metadata_crashers_stay_fixed(store, crasher: Path) -> None:
    _check_metadata(store, crasher.read_bytes())
