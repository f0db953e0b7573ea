"""Analysing a video into face tracks, segment by segment, so a killed run resumes.

Frames are sampled by timestamp (``imint.media.frames``), decoded ahead in a thread, and
each is detected and tracked here while worker processes compute the fused embeddings.
Work is committed every ``segment_seconds`` of video with the tracker's open tracks, so a
killed run resumes after the last committed segment; memory holds one frame, the open
tracks and one segment's detections. A truncated stream keeps everything before the
fault and reports it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from imint.faces.video.detect import DEFAULT_DETECT_MAX_SIDE, detect_frame
from imint.faces.video.pool import DEFAULT_EMBED_WORKERS, embedding_pool
from imint.faces.video.stats import ScanStats
from imint.faces.video.storage import ScanState, SegmentDone, load_open_tracks, open_scan, store_segment
from imint.faces.video.tracker import FaceTracker, SceneCutDetector
from imint.media.frames import (
    DEFAULT_SAMPLE_FPS,
    Frame,
    TruncatedVideoError,
    VideoInfo,
    iter_frames,
    prefetched,
)
from imint.records import Evidence

if TYPE_CHECKING:
    from imint.faces.service import FaceService

ProgressFn = Callable[[int, int, str], None]

DEFAULT_SEGMENT_SECONDS = 10.0


def scan_video(
    service: FaceService,
    evidence: Evidence,
    info: VideoInfo,
    *,
    fps: float = DEFAULT_SAMPLE_FPS,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    detect_max_side: int = DEFAULT_DETECT_MAX_SIDE,
    embed_workers: int = DEFAULT_EMBED_WORKERS,
    progress: ProgressFn | None = None,
    stats: ScanStats | None = None,
    stop_after_segments: int | None = None,
) -> tuple[int, bool]:
    """Analyse a video into tracks, resuming after the last committed segment.

    Returns ``(scan_id, reused)``; ``reused`` is True when nothing was left to do.
    ``embed_workers`` processes compute the fused embeddings (0: this process does).
    ``stats``, if given, receives the time per stage and the embedding counts.
    ``stop_after_segments`` stops early (as a kill would), for tests of resumption.
    """
    params = {"detect_max_side": detect_max_side, "segment_seconds": segment_seconds}
    state = open_scan(service.ws, evidence, info, model_id=service.model_id, fps=fps, params=params)
    if state.status in ("complete", "partial"):
        return state.scan_id, True
    scan = _SegmentedScan(
        service,
        evidence,
        info,
        state,
        fps=fps,
        segment_seconds=segment_seconds,
        embed_workers=embed_workers,
        stats=stats if stats is not None else ScanStats(),
    )
    scan.run(detect_max_side=detect_max_side, progress=progress, stop_after_segments=stop_after_segments)
    return state.scan_id, False


def _timed(frames: Iterable[Frame], stats: ScanStats) -> Iterator[Frame]:
    """The frames, with the time spent waiting for each added to ``stats.decode``."""
    it = iter(frames)
    while True:
        with stats.timing("decode"):
            frame = next(it, None)
        if frame is None:
            return
        yield frame


class _Segment:
    """The stretch of video since the last commit, and what was found in it."""

    def __init__(self, start: float, length: float, embedded_before: int) -> None:
        self.start, self.end = start, start + length
        self.frames = self.faces = 0
        self.embedded_before = embedded_before
        self.clock = time.perf_counter()

    def done(self, end: float, embedded_count: int) -> SegmentDone:
        return SegmentDone(
            start=self.start,
            end=end,
            frames=self.frames,
            faces=self.faces,
            embedded=embedded_count - self.embedded_before,
            seconds=time.perf_counter() - self.clock,
        )


class _SegmentedScan:
    """One run of a scan: decode, detect and track from where the scan stands, committing segments."""

    def __init__(
        self,
        service: FaceService,
        evidence: Evidence,
        info: VideoInfo,
        state: ScanState,
        *,
        fps: float,
        segment_seconds: float,
        embed_workers: int,
        stats: ScanStats,
    ) -> None:
        self.ws, self.model_id = service.ws, service.model_id
        self.engine = service.engine
        self.evidence, self.info, self.state = evidence, info, state
        self.fps, self.segment_seconds, self.stats = fps, segment_seconds, stats
        # Workers start (once per process) before decoding: they load their models while this
        # process detects and tracks the first seconds, which need no fused embedding yet.
        pool = embedding_pool(self.engine.model_id, embed_workers)
        self.tracker = FaceTracker(self.engine, next_no=state.next_track_no, pool=pool, stats=stats)
        self.tracker.active = load_open_tracks(self.ws, state.scan_id)
        self.cut_detector = SceneCutDetector()
        self.segment = _Segment(state.processed_until, segment_seconds, self.tracker.embedded_count)
        self.last_time = state.processed_until

    def run(
        self, *, detect_max_side: int, progress: ProgressFn | None, stop_after_segments: int | None
    ) -> None:
        total = self.info.expected_samples(self.fps)
        done_before = self.state.frames_sampled
        name = self.evidence.original_name
        frames = iter_frames(
            self.evidence.stored_path, fps=self.fps, start=self.state.processed_until, info=self.info
        )
        segments_done = 0
        try:
            for frame in _timed(prefetched(frames), self.stats):
                while frame.time >= self.segment.end - 1e-6:
                    self.tracker.embed_pending_candidates()
                    self._commit(self.segment.end)
                    segments_done += 1
                    if stop_after_segments is not None and segments_done >= stop_after_segments:
                        return
                    self.segment = _Segment(
                        self.segment.end, self.segment_seconds, self.tracker.embedded_count
                    )
                self._analyse(frame, detect_max_side)
                if progress:
                    progress(min(done_before + self.segment.frames, total), total, name)
        except TruncatedVideoError as exc:
            self._close_all_tracks()
            self._commit(max(self.last_time, self.segment.start), final_status="partial", error=exc.reason)
            return
        self._close_all_tracks()
        if progress:
            done = done_before + self.segment.frames
            progress(done, done, name)
        self._commit(min(max(self.info.duration, self.last_time), self.segment.end), final_status="complete")

    def _analyse(self, frame: Frame, detect_max_side: int) -> None:
        with self.stats.timing("detect"):
            detected = detect_frame(self.engine, frame.rgb, detect_max_side)
        with self.stats.timing("track_and_embed"):
            self.tracker.update(frame.time, frame.rgb, detected, scene_cut=self.cut_detector(frame.rgb))
        self.segment.frames += 1
        self.segment.faces += len(detected)
        self.last_time = frame.time

    def _close_all_tracks(self) -> None:
        """At the end of the video (or of its readable part): close every track, apply every embedding."""
        self.tracker.close_all()
        self.tracker.resolve()

    def _commit(self, end: float, *, final_status: str | None = None, error: str | None = None) -> None:
        """Store the segment up to ``end`` in one transaction; afterwards memory keeps only open tracks."""
        done = self.segment.done(end, self.tracker.embedded_count)
        tracker = self.tracker
        tracker.resolve()
        store_segment(
            self.ws,
            self.state.scan_id,
            self.evidence.sha256,
            self.model_id,
            tracker.finished + tracker.active,
            done,
            next_track_no=tracker.next_no,
            final_status=final_status,
            error=error,
        )
        # Only after the commit: finished tracks leave memory, open ones forget what is stored.
        tracker.finished = []
        for track in tracker.active:
            track.pending = []
            track.best_pending = None
