"""Video face search end to end, on clips composed at test time from public-domain photos."""

import json
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from PIL import Image
from sqlalchemy import select
from typer.testing import CliRunner

from imint.cli import app
from imint.errors import BadInputError
from imint.faces.engine import get_engine
from imint.faces.tables import FaceRow, Match
from imint.faces.video import search_video, search_videos
from imint.faces.video.pool import EmbeddingPool, embedding_pool
from imint.faces.video.scan import scan_video
from imint.faces.video.tables import VideoAppearance, VideoDetection, VideoScan, VideoSegment, VideoTrack
from imint.media.frames import probe_video
from imint.media.sniff import sort_media
from imint.workspace import Workspace
from tests.db_support import child_env
from tests.video_clips import astronaut, grace_hopper, moving_faces_frames, truncate, write_clip

PERSON = "Eileen Collins"  # the astronaut of scikit-image's sample photo


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    d = tmp_path_factory.mktemp("clips")
    frames = moving_faces_frames(seconds=3.0, fps=10)
    Image.fromarray(astronaut()).save(d / "astronaut.png")
    Image.fromarray(grace_hopper()).save(d / "hopper.png")
    return {
        "dir": d,
        "faces": write_clip(d / "two_faces.mp4", frames, fps=10),
        "faststart": write_clip(d / "faststart.mp4", frames, fps=10, faststart=True),
        "astronaut": d / "astronaut.png",
        "hopper": d / "hopper.png",
    }


@pytest.fixture(scope="module")
def ws(tmp_path_factory, clips):
    workspace = Workspace(tmp_path_factory.mktemp("ws") / "imint-data", user="tester")
    workspace.enroll(PERSON, [clips["astronaut"]])
    return workspace


@pytest.fixture(scope="module")
def first_search(ws, clips):
    # A photo of the stranger is searched first: video tracks cluster with photo faces.
    ws.search([clips["hopper"]])
    calls = []
    result = search_video(
        ws,
        clips["faces"],
        annotate_dir=ws.exports_dir / "annotated",
        progress=lambda done, total, item: calls.append((done, total)),
    )
    return result, calls


def test_enrolled_person_is_found_with_a_time_span_and_the_stranger_is_unknown(first_search):
    result, _ = first_search
    assert result.error is None and not result.reused
    assert result.frames_sampled == 15  # 3 s at 5 frames per second
    assert len(result.tracks) == 2
    known = [a for a in result.appearances if a.person]
    unknown = [a for a in result.appearances if a.person is None]
    assert [a.person for a in known] == [PERSON]
    assert known[0].start == pytest.approx(0.0) and known[0].end == pytest.approx(2.8)
    assert known[0].fmr < 1e-3
    assert 0.0 <= known[0].best_frame_time <= 2.8
    assert len(unknown) == 1 and unknown[0].cluster is not None
    assert unknown[0].start == pytest.approx(0.0) and unknown[0].end == pytest.approx(2.8)


def test_result_json_has_media_hash_duration_and_appearances(first_search, clips):
    data = json.loads(json.dumps(first_search[0].to_dict()))
    assert len(data["media"]["sha256"]) == 64
    assert data["media"]["duration"] == pytest.approx(3.0, abs=0.11)
    for a in data["appearances"]:
        assert {"person", "cluster", "start", "end", "fmr", "best_frame_time"} <= set(a)
    assert {a["person"] for a in data["appearances"]} == {PERSON, None}


def test_tracks_frame_times_and_matches_are_stored(ws, first_search):
    result, _ = first_search
    with ws.session() as s:
        scan = s.scalar(select(VideoScan).where(VideoScan.evidence_sha256 == result.evidence.sha256))
        assert scan.status == "complete" and scan.frames_sampled == 15
        tracks = s.scalars(select(VideoTrack).where(VideoTrack.scan_id == scan.id)).all()
        assert sorted(t.n_frames for t in tracks if t.status == "closed") == [15, 15]
        times = s.scalars(
            select(VideoDetection.frame_time).join(VideoTrack).where(VideoTrack.scan_id == scan.id)
        )
        assert sorted(set(times)) == pytest.approx([i * 0.2 for i in range(15)])
        appearances = s.scalars(select(VideoAppearance).where(VideoAppearance.scan_id == scan.id)).all()
        assert len(appearances) == 2 and all(a.operating_point == "fpir=0.01" for a in appearances)
        # The match is a candidate on the track's best face: it enters the review queue.
        matched = [t for t in tracks if t.person_id is not None]
        assert len(matched) == 1
        assert s.scalar(select(Match).where(Match.face_id == matched[0].best_face_id)) is not None


def test_unknown_track_clusters_with_the_same_strangers_photo(ws, first_search, clips):
    result, _ = first_search
    unknown = next(t for t in result.tracks if t.best is None)
    photo = ws.evidence(ws.ingest(clips["hopper"]).sha256)
    with ws.session() as s:
        photo_face = s.scalar(
            select(FaceRow).where(FaceRow.evidence_sha256 == photo.sha256, FaceRow.frame_time.is_(None))
        )
        assert photo_face.cluster_id == unknown.cluster


def test_annotated_video_and_contact_sheet_are_written(first_search):
    result, _ = first_search
    with av.open(result.annotated_path) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(frames) == 15
    # Boxes are drawn: the annotated frame differs from a plain grey-background frame's colours.
    assert any((np.abs(f.astype(int) - f[..., ::-1].astype(int)).sum(axis=2) > 200).any() for f in frames)
    sheet = Image.open(result.contact_sheet_path)
    assert sheet.format == "PNG" and sheet.width >= 320


def test_progress_is_reported_up_to_the_number_of_samples(first_search):
    _, calls = first_search
    assert calls and calls[-1][0] == calls[-1][1] == 15


def test_second_search_reuses_the_analysis(ws, clips, first_search):
    again = search_video(ws, clips["faces"])
    assert again.reused
    assert [(a.person, a.start, a.end) for a in again.appearances] == [
        (a.person, a.start, a.end) for a in first_search[0].appearances
    ]


def test_cli_search_routes_video_writes_json_and_prints_appearances(ws, clips, tmp_path, first_search):
    out = tmp_path / "out.json"
    res = CliRunner().invoke(
        app, ["search", str(clips["faces"]), "--json", str(out), "-w", str(ws.path)], env={"COLUMNS": "200"}
    )
    assert res.exit_code == 0, res.output
    assert PERSON in res.output and "Appearances" in res.output
    data = json.loads(out.read_text())
    assert data["media"]["sha256"] == first_search[0].evidence.sha256
    assert any(a["person"] == PERSON for a in data["appearances"])


def test_killed_run_resumes_without_redoing_segments(tmp_path, clips):
    ws = Workspace(tmp_path / "ws", user="tester")
    evidence = ws.ingest(clips["faces"])
    info = probe_video(evidence.stored_path)
    scan_video(ws.faces, evidence, info, segment_seconds=1.0, stop_after_segments=1)  # as if killed after 1 s
    with ws.session() as s:
        assert s.scalar(select(VideoScan)).status == "running"
        assert s.scalars(select(VideoSegment.start)).all() == [0.0]
    scan_video(ws.faces, evidence, info, segment_seconds=1.0)
    with ws.session() as s:
        assert s.scalar(select(VideoScan)).status == "complete"
        assert s.scalars(select(VideoSegment.start).order_by(VideoSegment.start)).all() == [0.0, 1.0, 2.0]
        tracks = s.scalars(select(VideoTrack).where(VideoTrack.status == "closed")).all()
        # Open tracks were carried across the kill and the segment boundaries, not restarted.
        assert [(t.start, t.end, t.n_frames) for t in tracks] == [(0.0, 2.8, 15), (0.0, 2.8, 15)]


_KILLED_CHILD = """
import sys, time
from imint.faces.video import search_video, search_videos
from imint.settings import Settings
from imint.workspace import Workspace

calls = []

def stall_after_the_first_commit(done, total, item):
    calls.append(done)
    if len(calls) > 5:  # the sixth frame (1.0 s) came after the first segment was committed
        time.sleep(600)

ws = Workspace(settings=Settings.from_env(workspace=sys.argv[1], user="tester"))
search_video(ws, sys.argv[2], segment_seconds=1.0, embed_workers=0, progress=stall_after_the_first_commit)
"""


@pytest.mark.slow
def test_a_run_killed_with_sigkill_resumes_in_a_new_process(tmp_path, clips):
    import os
    import signal
    import subprocess
    import sys
    import time

    ws_path = tmp_path / "ws"
    Workspace(ws_path, user="tester").enroll(PERSON, [clips["astronaut"]])
    child = subprocess.Popen(
        [sys.executable, "-c", _KILLED_CHILD, str(ws_path), str(clips["faces"])], env=child_env(ws_path)
    )
    try:
        ws = Workspace(ws_path, user="tester")
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and child.poll() is None:
            with ws.session() as s:
                if s.scalars(select(VideoSegment.start)).all():
                    break
            time.sleep(0.5)
        assert child.poll() is None, "the child ended before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    with ws.session() as s:
        assert s.scalar(select(VideoScan)).status == "running"
        assert s.scalars(select(VideoSegment.start)).all() == [0.0]
    result = search_video(ws, clips["faces"], segment_seconds=1.0)
    assert not result.reused and result.error is None
    with ws.session() as s:
        assert s.scalar(select(VideoScan)).status == "complete"
        assert s.scalars(select(VideoSegment.start).order_by(VideoSegment.start)).all() == [0.0, 1.0, 2.0]
    assert [(t.start, t.end, t.frames) for t in result.tracks] == [(0.0, 2.8, 15), (0.0, 2.8, 15)]
    assert [a.person for a in result.appearances if a.person] == [PERSON]


def test_truncated_video_keeps_what_came_before_the_fault(ws, clips, tmp_path):
    cut = truncate(clips["faststart"], tmp_path / "cut.mp4", 0.55)
    result = search_video(ws, cut)
    assert result.error and "truncated" in result.error
    known = [a for a in result.appearances if a.person == PERSON]
    assert len(known) == 1 and known[0].start == 0.0 and 0.4 <= known[0].end < 2.8
    again = search_video(ws, cut)
    assert again.reused and again.error == result.error


def test_unreadable_video_is_refused_and_not_stored(tmp_path, clips):
    ws = Workspace(tmp_path / "ws", user="tester")
    cut = truncate(clips["faces"], tmp_path / "cut.mp4", 0.6)  # the MP4 index is at the end: lost
    with pytest.raises(BadInputError, match="cut.mp4: truncated or corrupt video"):
        search_video(ws, cut)
    assert ws.list_evidence() == []


def test_a_scene_cut_ends_the_track_even_where_the_next_face_sits(ws, tmp_path):
    astro = cv2.resize(astronaut(), (240, 240), interpolation=cv2.INTER_AREA)
    gh = cv2.resize(grace_hopper(), (240, 283), interpolation=cv2.INTER_AREA)[:240]
    frames = []
    for i in range(30):
        canvas = np.full((360, 480, 3), 90 if i < 15 else 200, np.uint8)
        canvas[60:300, 100:340] = astro if i < 15 else gh  # same place, other person, other shot
        frames.append(canvas)
    result = search_video(ws, write_clip(tmp_path / "cut.mp4", frames, fps=10))
    known = [a for a in result.appearances if a.person == PERSON]
    assert len(known) == 1 and known[0].end < 1.5
    assert any(a.person is None and a.start >= 1.5 for a in result.appearances)


def test_sort_media_sorts_photos_and_videos(tmp_path, clips):
    folder = tmp_path / "mixed"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "clip.mp4").write_bytes(Path(clips["faces"]).read_bytes())
    (folder / "photo.png").write_bytes(Path(clips["hopper"]).read_bytes())
    (folder / "notes.txt").write_text("ignored")
    renamed = tmp_path / "clip.bin"  # judged by content when named on the command line
    renamed.write_bytes(Path(clips["faces"]).read_bytes())
    photos, videos = sort_media([folder, renamed, clips["astronaut"]])
    assert photos == [folder / "photo.png", clips["astronaut"]]
    assert videos == [folder / "sub" / "clip.mp4", renamed]


def test_search_videos_gives_one_object_per_video_then_those_it_could_not_read(
    ws, clips, tmp_path, first_search
):
    note = tmp_path / "note.mp4"
    note.write_text("not a video")
    heard = []
    found = search_videos(
        ws,
        [note, clips["faces"]],
        fpir=0.01,
        k=5,
        watchlist=None,
        fps=5.0,
        out_dir=None,
        progress=lambda done, total, item: heard.append((done, total, Path(item).name)),
    )
    assert [v["media"]["path"] for v in found] == [str(clips["faces"]), str(note)]
    assert found[0]["media"]["sha256"] == first_search[0].evidence.sha256 and found[0]["error"] is None
    assert any(a["person"] == PERSON for a in found[0]["appearances"])
    assert "note.mp4" in found[1]["error"] and found[1]["appearances"] == []
    assert heard[0] == (0, 0, "note.mp4") and heard[-1][2] == "two_faces.mp4"
    assert heard[-1][0] == heard[-1][1] >= 1


def test_cli_folder_with_photos_and_videos_gives_both_in_one_json(ws, clips, tmp_path, first_search):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "clip.mp4").write_bytes(Path(clips["faces"]).read_bytes())
    (folder / "hopper.png").write_bytes(Path(clips["hopper"]).read_bytes())
    out = tmp_path / "out.json"
    res = CliRunner().invoke(
        app, ["search", str(folder), "--json", str(out), "-w", str(ws.path), "--no-annotate"]
    )
    assert res.exit_code == 0, res.output
    data = json.loads(out.read_text())
    assert [Path(m["path"]).name for m in data["media"]] == ["hopper.png"]
    assert [Path(v["media"]["path"]).name for v in data["videos"]] == ["clip.mp4"]
    assert data["videos"][0]["annotated_video"] is None


def _hidden_then_back(second: np.ndarray, shift: int = 100) -> list[np.ndarray]:
    """The astronaut for 1 s, nobody for 0.5 s, then ``second`` 100 px (two face widths) right."""
    astro = cv2.resize(astronaut(), (240, 240), interpolation=cv2.INTER_AREA)
    frames = []
    for i in range(30):
        canvas = np.full((360, 560, 3), 90, np.uint8)
        if i < 10:
            canvas[60:300, 40:280] = astro
        elif i >= 15:
            canvas[60:300, 40 + shift : 280 + shift] = second
        frames.append(canvas)
    return frames


def test_a_face_back_nearby_after_a_moment_keeps_its_track(ws, tmp_path):
    astro = cv2.resize(astronaut(), (240, 240), interpolation=cv2.INTER_AREA)
    result = search_video(ws, write_clip(tmp_path / "back.mp4", _hidden_then_back(astro), fps=10))
    # No box overlap and more than a face width away: only the SFace comparison joins them.
    assert result.timings["reid_embedded_faces"] >= 1
    assert [(t.start, t.end, t.frames) for t in result.tracks] == [(0.0, 2.8, 12)]
    assert result.tracks[0].best is not None and result.tracks[0].best.person_name == PERSON


def test_someone_else_where_a_face_was_lost_starts_a_new_track(ws, tmp_path):
    gh = cv2.resize(grace_hopper(), (240, 283), interpolation=cv2.INTER_AREA)[:240]
    result = search_video(ws, write_clip(tmp_path / "other.mp4", _hidden_then_back(gh), fps=10))
    assert result.timings["reid_embedded_faces"] >= 1
    assert [(t.start, t.end) for t in result.tracks] == [(0.0, 0.8), (1.6, 2.8)]
    assert [t.best.person_name if t.best else None for t in result.tracks] == [PERSON, None]


def test_a_worker_process_embeds_as_this_process_does():
    engine = get_engine()
    rgb = astronaut()
    face = engine.detect(rgb).select([0])
    vector, cpu_seconds = embedding_pool(engine.model_id, 1).submit(rgb, face).result()
    assert cpu_seconds > 0
    assert np.allclose(vector, engine.embed(rgb, face).embeddings[0], atol=1e-4)


def test_embedding_in_a_worker_or_here_gives_the_same_tracks_and_matches(tmp_path, clips):
    runs = []
    for workers in (0, 1):
        ws = Workspace(tmp_path / f"ws-{workers}", user="tester")
        ws.enroll(PERSON, [clips["astronaut"]])
        result = search_video(ws, clips["faces"], embed_workers=workers)
        runs.append(result)
    here, worker = runs
    assert here.timings["embedded_faces"] == worker.timings["embedded_faces"] > 0
    assert [(t.start, t.end, t.frames, t.best_frame_time) for t in here.tracks] == [
        (t.start, t.end, t.frames, t.best_frame_time) for t in worker.tracks
    ]
    assert [(a.person, a.start, a.end) for a in here.appearances] == [
        (a.person, a.start, a.end) for a in worker.appearances
    ]
    assert [a.fmr for a in here.appearances] == pytest.approx([a.fmr for a in worker.appearances], rel=0.05)


def test_a_worker_that_dies_is_replaced_by_embedding_here(tmp_path, clips, monkeypatch):
    def dead_worker(self, crop, faces):
        future = Future()
        future.set_exception(BrokenProcessPool("a worker process died"))
        return future

    monkeypatch.setattr(EmbeddingPool, "submit", dead_worker)
    ws = Workspace(tmp_path / "ws", user="tester")
    ws.enroll(PERSON, [clips["astronaut"]])
    pool = embedding_pool(get_engine().model_id, 1)
    result = search_video(ws, clips["faces"], embed_workers=1)
    assert result.timings["embedded_faces"] > 0 and result.timings["embed_worker_cpu"] == 0
    assert [a.person for a in result.appearances if a.person] == [PERSON]
    assert pool.broken and embedding_pool(get_engine().model_id, 1) is not pool  # replaced next time
