"""Fuzzing uploads: saved_uploads (names, sizes, sniffed types) and the sniffer, then ingest of what was saved.

Bytes are mutations of a real JPEG and PNG plus random bytes; client file names are arbitrary text
(path separators, ``..``, NUL, very long names). Whatever is accepted lands inside the upload's own
temporary folder and is gone afterwards; refusals are ImintErrors; nothing stored before changes.
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from fastapi import UploadFile
from hypothesis import strategies as st

from imint.api.uploads import saved_uploads
from imint.media.sniff import is_video_file, sniff_bytes, sniff_kind, sort_media
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
from tests.test_fuzz_images import JPEG, PNG

pytestmark = pytest.mark.filterwarnings("ignore")

NAMES = st.one_of(
    st.none(),
    st.text(max_size=300),
    st.sampled_from(["../../etc/passwd", "..", ".", "/", "a\\..\\b.jpg", "photo.jpg", " .jpg. ", "\x00.png"]),
)
UPLOADS = st.lists(st.tuples(NAMES, st.one_of(fuzz_bytes(JPEG), fuzz_bytes(PNG))), min_size=0, max_size=3)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-uploads")
    (root / "good.png").write_bytes(PNG)
    ws = Workspace(root / "ws")
    ev = ws.ingest(root / "good.png")
    yield ws, ev.sha256, store_state(ws, ev.sha256)
    ws.close()


def _check_uploads(store, uploads: list[tuple[str | None, bytes]]) -> None:  # noqa: ANN001
    ws, good_sha, good_state = store
    files = [UploadFile(io.BytesIO(data), filename=name, size=len(data)) for name, data in uploads]
    for _, data in uploads:
        assert sniff_bytes(data[:16]) in (None, "image", "video", "raster")
    saved: list[Path] = []

    def save() -> None:
        with saved_uploads(files, allowed=("image", "raster"), max_file_bytes=6000, max_files=2) as paths:
            folder = paths[0].parent if paths else None
            for p in paths:
                assert p.parent == folder and p.is_file() and p.name not in ("", ".", "..")
                assert sniff_kind(p) in ("image", "raster") and not is_video_file(p)
                saved.append(p)
            sort_media(paths, by_bytes=True)
            for p in paths:
                if hashlib.sha256(p.read_bytes()).hexdigest() == good_sha:
                    continue  # the good file again: a seen-again entry is right
                before = counts(ws)
                ok, _ = refused_or_accepted(lambda p=p: ws.ingest(p, source="upload"))
                if not ok:
                    assert counts(ws) == before

    refused_or_accepted(save)
    assert not any(p.exists() for p in saved), "an upload outlived its request"
    assert store_state(ws, good_sha) == good_state


def test_fuzz_uploads(store) -> None:
    run_fuzz(UPLOADS, lambda u: _check_uploads(store, u), FAST_EXAMPLES, "upload")
    every_object_present(store[0])


@pytest.mark.long
def test_fuzz_uploads_slow(store) -> None:
    run_fuzz(UPLOADS, lambda u: _check_uploads(store, u), SLOW_EXAMPLES, "upload")
    every_object_present(store[0])


@pytest.mark.parametrize("crasher", crasher_files("upload-"), ids=lambda p: p.name)
def test_upload_crashers_stay_fixed(store, crasher: Path) -> None:
    _check_uploads(store, [(crasher.name, crasher.read_bytes())])
