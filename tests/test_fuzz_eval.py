"""Fuzzing the CSV readers of ``imint eval faces`` (read_face_folder) and ``imint eval ships`` (evaluate_ships).

Seeds are real folders made at test time: a manifest.csv + ident.csv over two photos, and a ships folder
(images.csv, annotations.csv, one 64 x 64 PNG chip). The CSV bytes are cut, flipped and grown, and also
generated as rows of arbitrary cells, so short rows, extra cells, odd numbers and odd encodings all come up.
"""

from __future__ import annotations

import csv
import io
import itertools
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import strategies as st

from imint.faces.datasets import read_face_folder
from imint.sites.evaluate import evaluate_ships
from imint.workspace import Workspace
from tests.fuzz_support import (
    FAST_EXAMPLES,
    SLOW_EXAMPLES,
    crasher_files,
    fuzz_bytes,
    refused_or_accepted,
    run_fuzz,
    store_state,
)

pytestmark = pytest.mark.filterwarnings("ignore")


def _csv(rows: list[list[object]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    return buf.getvalue().encode()


MANIFEST = _csv([["path", "identity", "source"], ["a/1.jpg", "Ann", "lfw"], ["b/2.jpg", "Bob", "web"]])
IDENT = _csv([["path", "identity", "role"], ["a/1.jpg", "Ann", "gallery"], ["b/2.jpg", "Bob", "probe"]])
IMAGES = _csv(
    [
        ["image", "width", "height", "source", "sensor", "modality", "scene", "subset", "n_objects"],
        ["images/c0.png", 64, 64, "sim", "sim", "SAR", "", "offshore", 1],
    ]
)
ANNOTATIONS = _csv(
    [["image", "x1", "y1", "x2", "y2", "label", "difficult"], ["images/c0.png", 20, 20, 26, 24, "ship", 0]]
)

_cell = st.one_of(
    st.sampled_from(
        ["", "nan", "inf", "-1", "1e309", "0x10", "images/c0.png", "images", "../x", "/etc", "ship", "1"]
    ),
    st.text(max_size=12),
    st.integers(-(2**40), 2**40).map(str),
    st.floats().map(str),
)
_header = st.lists(
    st.sampled_from(
        [
            "path",
            "identity",
            "source",
            "role",
            "image",
            "modality",
            "x1",
            "y1",
            "x2",
            "y2",
            "label",
            "difficult",
            "subset",
            "",
        ]
    ),
    min_size=0,
    max_size=8,
)


def _table(header: list[str]) -> st.SearchStrategy[bytes]:
    rows = st.lists(st.lists(_cell, max_size=len(header) + 2), max_size=5)
    encodings = st.sampled_from(["utf-8", "utf-16", "latin-1"])
    return st.tuples(rows, encodings).map(lambda r: _csv([header, *r[0]]).decode().encode(r[1], "replace"))


def _csv_inputs(seed: bytes, header: list[str]) -> st.SearchStrategy[bytes]:
    return st.one_of(fuzz_bytes(seed, 512), _table(header), _header.flatmap(_table))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-eval")
    faces = root / "faces"
    for rel in ("a/1.jpg", "b/2.jpg"):
        (faces / rel).parent.mkdir(parents=True, exist_ok=True)
        cv2.imwrite(str(faces / rel), np.full((32, 32, 3), 128, np.uint8))
    (faces / "manifest.csv").write_bytes(MANIFEST)
    (faces / "ident.csv").write_bytes(IDENT)
    ships = root / "ships"
    (ships / "images").mkdir(parents=True)
    chip = np.random.default_rng(1).integers(10, 40, (64, 64)).astype(np.uint8)
    chip[20:24, 20:26] = 250
    cv2.imwrite(str(ships / "images" / "c0.png"), chip)
    (ships / "images.csv").write_bytes(IMAGES)
    (ships / "annotations.csv").write_bytes(ANNOTATIONS)
    ws = Workspace(root / "ws")
    ev = ws.ingest(faces / "a/1.jpg")
    yield ws, ev.sha256, store_state(ws, ev.sha256), root
    ws.close()


_names = itertools.count()


def _copy(src: Path, root: Path) -> Path:
    dest = root / f"case{next(_names)}"
    shutil.copytree(src, dest)
    return dest


def _check_faces(store, pair: tuple[bytes, bytes | None]) -> None:  # noqa: ANN001
    ws, good_sha, good_state, root = store
    folder = _copy(root / "faces", root)
    manifest, ident = pair
    (folder / "manifest.csv").write_bytes(manifest)
    if ident is not None:
        (folder / "ident.csv").write_bytes(ident)
    ok, out = refused_or_accepted(lambda: read_face_folder(folder))
    if ok:
        assert all(isinstance(i.identity, str) and isinstance(i.rel, str) for i in out.images)
        assert all(all(isinstance(v, str) for v in t) for t in out.ident)
    else:
        assert str(folder) in str(out)
    assert store_state(ws, good_sha) == good_state
    shutil.rmtree(folder)


def _check_ships(store, pair: tuple[bytes | None, bytes | None]) -> None:  # noqa: ANN001
    ws, good_sha, good_state, root = store
    folder = _copy(root / "ships", root)
    images, annotations = pair
    if images is not None:
        (folder / "images.csv").write_bytes(images)
    if annotations is not None:
        (folder / "annotations.csv").write_bytes(annotations)
    ok, out = refused_or_accepted(lambda: evaluate_ships(folder, detector="cfar"))
    if ok:
        assert out["images"] >= 0
    else:
        assert str(folder) in str(out) or "images" in str(out)
    assert store_state(ws, good_sha) == good_state
    shutil.rmtree(folder)


FACE_INPUTS = st.one_of(
    st.tuples(_csv_inputs(MANIFEST, ["path", "identity", "source"]), st.none() | st.just(IDENT)),
    st.tuples(st.just(MANIFEST), _csv_inputs(IDENT, ["path", "identity", "role"])),
)
SHIP_INPUTS = st.one_of(
    st.tuples(_csv_inputs(IMAGES, ["image", "modality", "subset", "source"]), st.none()),
    st.tuples(st.none(), _csv_inputs(ANNOTATIONS, ["image", "x1", "y1", "x2", "y2", "label", "difficult"])),
)


def test_fuzz_eval_faces_csv(store) -> None:
    run_fuzz(FACE_INPUTS, lambda pair: _check_faces(store, pair), FAST_EXAMPLES, "faces-csv")


@pytest.mark.slow
@pytest.mark.fuzz
def test_fuzz_eval_faces_csv_slow(store) -> None:
    run_fuzz(FACE_INPUTS, lambda pair: _check_faces(store, pair), SLOW_EXAMPLES, "faces-csv")


def test_fuzz_eval_ships_csv(store) -> None:
    run_fuzz(SHIP_INPUTS, lambda pair: _check_ships(store, pair), FAST_EXAMPLES, "ships-csv")


@pytest.mark.slow
@pytest.mark.fuzz
def test_fuzz_eval_ships_csv_slow(store) -> None:
    run_fuzz(SHIP_INPUTS, lambda pair: _check_ships(store, pair), SLOW_EXAMPLES, "ships-csv")


@pytest.mark.parametrize("crasher", crasher_files("faces-csv-"), ids=lambda p: p.name)
def test_faces_csv_crashers_stay_fixed(store, crasher: Path) -> None:
    data = crasher.read_bytes()
    _check_faces(store, (MANIFEST, data) if "-ident-" in crasher.name else (data, None))


@pytest.mark.parametrize("crasher", crasher_files("ships-csv-"), ids=lambda p: p.name)
def test_ships_csv_crashers_stay_fixed(store, crasher: Path) -> None:
    _check_ships(
        store, (None, crasher.read_bytes()) if "annotations" in crasher.name else (crasher.read_bytes(), None)
    )
