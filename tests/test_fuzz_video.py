"""Fuzzing the video readers: probe_video, iter_frames (the video search's reader) and ingest_video.

The seed is a real 12-frame H.264 MP4 (64 x 48 px, made at test time); its atoms are cut, flipped,
grown and given huge sizes. Every input must be read to the end, or refused with an ImintError.
"""

from __future__ import annotations

import hashlib
import itertools
from pathlib import Path

import numpy as np
import pytest
from hypothesis import strategies as st

from imint.faces.video.search import ingest_video
from imint.media.frames import iter_frames, probe_video
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
from tests.video_clips import write_clip


def _mp4_seed(folder: Path, faststart: bool) -> bytes:
    frames = [np.full((48, 64, 3), 20 * i, np.uint8) for i in range(12)]
    for i, f in enumerate(frames):
        f[8:24, 4 * i : 4 * i + 16] = 255
    return write_clip(folder / f"seed{int(faststart)}.mp4", frames, fps=6, faststart=faststart).read_bytes()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz-video")
    seeds = (_mp4_seed(root, False), _mp4_seed(root, True))
    ws = Workspace(root / "ws")
    ev, _ = ingest_video(ws, root / "seed0.mp4")
    yield ws, ev.sha256, store_state(ws, ev.sha256), root / "inputs", seeds
    ws.close()


_names = itertools.count()


def _read_whole(path: Path) -> int:
    info = probe_video(path)
    return sum(1 for _ in iter_frames(path, fps=3.0, info=info))


def _check_video(store, data: bytes) -> None:  # noqa: ANN001
    ws, good_sha, good_state, folder, _ = store
    if hashlib.sha256(data).hexdigest() == good_sha:
        return  # the good file's own bytes: a seen-again entry is right, not a change
    folder.mkdir(exist_ok=True)
    path = folder / f"clip{next(_names)}.mp4"
    path.write_bytes(data)
    ok, out = refused_or_accepted(lambda: _read_whole(path))
    if not ok:
        assert path.name in str(out)
    before = counts(ws)
    ok, out = refused_or_accepted(lambda: ingest_video(ws, path))
    after = counts(ws)
    if ok:
        assert after[0] - before[0] in (0, 1)
    else:
        assert after == before, "a video that cannot be read was stored"
    assert store_state(ws, good_sha) == good_state
    path.unlink()


def _inputs(store) -> st.SearchStrategy[bytes]:  # noqa: ANN001
    plain, faststart = store[4]
    return st.one_of(fuzz_bytes(plain), fuzz_bytes(faststart))


def test_fuzz_video(store) -> None:
    run_fuzz(_inputs(store), lambda data: _check_video(store, data), FAST_EXAMPLES, "video")
    every_object_present(store[0])


@pytest.mark.long
def test_fuzz_video_slow(store) -> None:
    run_fuzz(_inputs(store), lambda data: _check_video(store, data), SLOW_EXAMPLES, "video")
    every_object_present(store[0])


@pytest.mark.parametrize("crasher", crasher_files("video-"), ids=lambda p: p.name)
def test_video_crashers_stay_fixed(store, crasher: Path) -> None:
    _check_video(store, crasher.read_bytes())
