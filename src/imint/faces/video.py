"""Find enrolled people in video: face tracks with time spans, best shots and calibrated matches.

The pipeline, per video:

1. **Sample** frames at a fixed rate (default 5 fps) by timestamp (``imint.media.frames``).
2. **Detect** faces on every sampled frame (YuNet on a frame shrunk to ``detect_max_side``;
   quality is judged on the full-resolution frame).
3. **Track** them, ByteTrack-like: confident detections are matched to tracks by IoU with the
   track's box moved along its velocity, then weaker detections to the tracks left. A
   confident detection no track claims, near a track lost a moment ago, is compared with
   that track's best face by a cheap *association* embedding (SFace alone, a quarter of
   the cost of the fused matching embedding), so a face that jumped or was hidden for a
   moment keeps its track; otherwise it starts a new one. A scene cut (colour
   histograms) ends every track, and a face unlike its track's template is kept out of the
   template.
4. **Embed** with the engine's (fused, calibrated) embedder only a confirmed track's best
   face per window: the best of its first ``EMBED_WINDOW_SECONDS`` (or of its life, if
   shorter), then, window by window and at its end, a candidate only if clearly better
   (``EMBED_BETTER_BY``; at most ``MAX_EMBEDDINGS_PER_TRACK``). Only the candidate's crop
   (and, for re-identification, the crop of the best face so far) stays in memory. Every
   detected face is tracked and stored; poor faces are never embedded for matching, as in
   photo search. The fused embeddings run in worker processes (``EmbeddingPool``) while
   this process decodes, detects and tracks, and join the templates, in the order they
   were asked for, before each commit.
5. **Template** per track: the quality-weighted mean of its embedded faces. **Search** each
   track's template 1:N at the calibrated operating point (``FaceService.match_faces``),
   **cluster** unknown tracks with the unknown faces of photos, and **merge** a person's (or
   a cluster's) tracks that follow each other closely into appearances.

Work is committed segment by segment (``segment_seconds`` of video), with the tracker's
open tracks, so a killed run resumes after the last committed segment; memory holds one
frame, the open tracks and one segment's detections. A truncated stream keeps everything
before the fault and reports it.
"""

from __future__ import annotations

import functools
import math
import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from imint.errors import BadInputError, ValidationError
from imint.faces.annotate import draw_faces, format_fmr
from imint.faces.calibration import DEFAULT_FPIR, pair_bin
from imint.faces.cluster import DEFAULT_CLUSTER_FMR, carry_cluster_ids, cluster_embeddings
from imint.faces.engine import FaceEngine, get_engine
from imint.faces.models import FaceEmbedder, SFaceEmbedder, YuNetDetector, refine_tiny_landmarks
from imint.faces.quality import assess, is_poor
from imint.faces.service import identified_as
from imint.faces.tables import FaceRow, Match, ReferencePhoto
from imint.faces.video_tables import (
    VideoAppearance,
    VideoDetection,
    VideoScan,
    VideoSegment,
    VideoTrack,
)
from imint.media.frames import (
    DEFAULT_SAMPLE_FPS,
    TruncatedVideoError,
    VideoInfo,
    iter_frames,
    prefetched,
    probe_video,
)
from imint.media.ingest import ingest_file, log_custody
from imint.media.sniff import sort_media
from imint.records import Candidate, Evidence, Faces, box_iou
from imint.store.db import utcnow

if TYPE_CHECKING:
    from imint.faces.service import FaceService
    from imint.workspace import Workspace

ProgressFn = Callable[[int, int, str], None]

DEFAULT_SEGMENT_SECONDS = 10.0
# Fused embeddings run in worker processes where there is a core to spare (see EmbeddingPool).
DEFAULT_EMBED_WORKERS = 1 if (os.cpu_count() or 1) >= 2 else 0
DEFAULT_DETECT_MAX_SIDE = 960  # YuNet at 960 px finds 24 px faces of a 1080p frame at a quarter of the cost
HIGH_SCORE = 0.8  # ByteTrack's split between confident and weak detections
IOU_MATCH = 0.25  # confident detection <-> predicted track box
IOU_MATCH_WEAK = 0.45
CENTRE_MATCH = 1.0  # unclaimed confident face <-> track predicted within this many face widths
MAX_LOST_SECONDS = 1.5  # a track not seen for this long is closed
# Re-identification of a newcomer with a track lost nearby compares SFace vectors (int8 SFace
# with flip TTA, the field network and adapter, as the registry's "sface"), not the fused matching
# embedding: a quarter of the cost, and the decision is local (a face within a few face widths
# of where a track was lost a moment ago). The fused calibration does not apply to SFace alone
# and calibration.json has no SFace-only table, so the thresholds are fixed cosines, derived on
# the DEV data with the calibration fit itself, run for SFace alone:
#   scripts/fit_calibration.py ../shared/data/faces ../shared/data/faces-field \
#       --model yunet/sface --out /tmp/sface-calibration.json
# They are the SFace cosines at FMR 1e-2 (the rate re-identification used with the fused
# calibration) per quality-pair bin, fitted on half of the identities (held-back FMR 0.010-0.015
# at them, refit 2026-11-27 with the landmark refiner). A pair in a bin without enough data
# (with the refined landmarks no dev face is "low") takes the strictest threshold. Refit them
# if the SFace weights, the landmark refiner, the field network or its adapter change. (Without
# flip TTA SFace costs half as much, but on facenet_pytorch_video it split one more track, and
# a track costs a fused embedding, eight SFace passes.)
REID_FMR = 1e-2
REID_SFACE_COSINE = {
    "medium+medium": 0.257,
    "medium+high": 0.215,
    "high+high": 0.297,
}
REID_DISTANCE = 3.0  # "nearby", in face widths between box centres
MIN_TRACK_FRAMES = 2  # shorter tracks are kept as records but not reported (mostly false detections)
MAX_EMBEDDINGS_PER_TRACK = 5
# A track embeds (fused) the best face of its first window, then later windows' best faces only
# if clearly better: a fused embedding costs about 0.2 CPU-s, most of the analysis time.
EMBED_WINDOW_SECONDS = 3.0
EMBED_BETTER_BY = 0.08  # a later candidate is embedded only if its quality is this much higher
DRIFT_FMR = 0.1  # a face this unlike its track's template (calibrated FMR) stays out of the template
MERGE_GAP_SECONDS = 2.0  # tracks of one person this close in time make one appearance
SCENE_CUT_CORRELATION = 0.7  # colour-histogram correlation of consecutive samples below this: a cut


# -- per-frame analysis ---------------------------------------------------------------
def detect_frame(engine: FaceEngine, rgb: np.ndarray, max_side: int = DEFAULT_DETECT_MAX_SIDE) -> Faces:
    """Faces of one video frame: detection on a shrunk copy, quality on the full frame."""
    h, w = rgb.shape[:2]
    scale = min(1.0, max_side / max(h, w))
    # Bilinear for shrinking by up to 2 (720p and 1080p to 960 px): its 2 x 2 footprint covers the
    # pixels an area filter would average, at a quarter of the cost (1 vs 4 ms a 720p frame here).
    interpolation = cv2.INTER_LINEAR if scale >= 0.5 else cv2.INTER_AREA
    small = (
        cv2.resize(rgb, (round(w * scale), round(h * scale)), interpolation=interpolation)
        if scale < 1
        else rgb
    )
    detector = engine.detector
    yunet = isinstance(detector, YuNetDetector)
    # No padded second look at face-less frames (it helps tight photo crops, not video), and
    # tiny faces' landmarks are refined below, on the full frame rather than the shrunk copy.
    faces = (
        detector.detect(small, pad_retry=False, refine_landmarks=False) if yunet else detector.detect(small)
    )
    if scale < 1 and len(faces):
        faces.boxes = faces.boxes / scale
        faces.landmarks = faces.landmarks / scale
    if yunet:
        refine_tiny_landmarks(rgb, faces)
    faces.quality, faces.quality_reason = assess_on_crops(rgb, faces)
    faces.model_id = engine.model_id
    return faces


def assess_on_crops(rgb: np.ndarray, faces: Faces) -> tuple[np.ndarray, list[str]]:
    """``quality.assess`` face by face on a region around each face, not on the whole frame.

    Judging a large face's sharpness shrinks the image it is given as a whole; on a 1080p
    frame that cost 10-15 ms per frame. The region (a 75 % margin) holds everything the
    64 px alignment samples, so only the resampling grid differs.
    """
    quality = np.zeros(len(faces), np.float32)
    reasons: list[str] = []
    h, w = rgb.shape[:2]
    for i in range(len(faces)):
        x1, y1, x2, y2 = faces.boxes[i]
        margin = 0.75 * max(x2 - x1, y2 - y1)
        cx1, cy1 = int(max(0, x1 - margin)), int(max(0, y1 - margin))
        cx2, cy2 = int(min(w, x2 + margin)), int(min(h, y2 + margin))
        one = faces.select([i])
        one.boxes = one.boxes - np.array([cx1, cy1, cx1, cy1], np.float32)
        one.landmarks = one.landmarks - np.array([cx1, cy1], np.float32)
        q, r = assess(rgb[cy1:cy2, cx1:cx2], one)
        quality[i] = q[0]
        reasons.append(r[0])
    return quality, reasons


def face_crop(rgb: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The region around a face that embedding needs (75 % margin), and its top-left corner."""
    h, w = rgb.shape[:2]
    x1, y1, x2, y2 = box
    margin = 0.75 * max(x2 - x1, y2 - y1)
    cx1, cy1 = int(max(0, x1 - margin)), int(max(0, y1 - margin))
    cx2, cy2 = int(min(w, x2 + margin)), int(min(h, y2 + margin))
    return np.ascontiguousarray(rgb[cy1:cy2, cx1:cx2]), np.array([cx1, cy1], np.float32)


def embed_faces(engine: FaceEngine, rgb: np.ndarray, faces: Faces) -> np.ndarray:
    """Embed faces one crop at a time: the embedders upsample whole images for small faces,
    which on a 1080p frame costs seconds; a crop with a wide margin gives the same vector
    (cosine 0.997-0.9999 to the whole-frame vector on the DEV clips)."""
    out = np.zeros((len(faces), engine.embedder.dim), np.float32)
    for i in range(len(faces)):
        crop, offset = face_crop(rgb, faces.boxes[i])
        one = faces.select([i])
        one.boxes = one.boxes - np.tile(offset, 2)
        one.landmarks = one.landmarks - offset
        out[i] = engine.embed(crop, one).embeddings[0]
    return out


def _crop_jpeg(rgb: np.ndarray, box: np.ndarray, size: int = 160) -> bytes:
    """A square crop around a face (30 % margin), as JPEG bytes for the contact sheet."""
    x1, y1, x2, y2 = box
    side = 1.3 * max(x2 - x1, y2 - y1)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    h, w = rgb.shape[:2]
    a, b = int(max(0, cx - side / 2)), int(max(0, cy - side / 2))
    c, d = int(min(w, cx + side / 2)), int(min(h, cy + side / 2))
    crop = rgb[b:d, a:c]
    if crop.size == 0:
        crop = np.zeros((size, size, 3), np.uint8)
    crop = cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(crop, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes() if ok else b""


class SceneCutDetector:
    """Flags a cut between consecutive sampled frames (colour histograms of a thumbnail).

    IoU alone would carry a track across a cut onto whoever is at the same place in the
    next shot; measured on short_hamilton_clip, cuts give correlations 0.40-0.62 and
    camera motion within a shot stays above 0.91.
    """

    def __init__(self, threshold: float = SCENE_CUT_CORRELATION) -> None:
        self.threshold = threshold
        self._previous: np.ndarray | None = None

    def __call__(self, rgb: np.ndarray) -> bool:
        small = cv2.resize(rgb, (64, 36), interpolation=cv2.INTER_AREA)
        hsv = cv2.cvtColor(small, cv2.COLOR_RGB2HSV)
        hist = cv2.calcHist([hsv], [0, 1], None, [16, 8], [0, 180, 0, 256]).ravel()
        hist = (hist / max(hist.sum(), 1.0)).astype(np.float32)
        previous, self._previous = self._previous, hist
        if previous is None:
            return False
        return cv2.compareHist(previous, hist, cv2.HISTCMP_CORREL) < self.threshold


# -- tracking -----------------------------------------------------------------------
@dataclass
class _PendingFace:
    """A detection waiting for the next segment commit."""

    time: float
    box: np.ndarray
    landmarks: np.ndarray
    score: float
    quality: float
    reason: str
    embedding: np.ndarray | None = None
    row: FaceRow | None = None
    crop: np.ndarray | None = None  # kept while the face is its track's embedding candidate
    crop_offset: np.ndarray | None = None

    def as_faces(self, offset: np.ndarray | None = None) -> Faces:
        """This face as a one-row ``Faces`` in the coordinates of its crop (or of ``offset``)."""
        if offset is None:
            offset = self.crop_offset if self.crop_offset is not None else np.zeros(2, np.float32)
        return Faces(
            boxes=(self.box - np.tile(offset, 2))[None],
            landmarks=(self.landmarks - offset)[None],
            scores=np.array([self.score], np.float32),
            quality=np.array([self.quality], np.float32),
            quality_reason=[self.reason],
        )


@dataclass
class _Track:
    no: int
    start: float
    end: float
    box: np.ndarray
    velocity: np.ndarray
    n_frames: int = 0
    template_sum: np.ndarray | None = None
    template_weight: float = 0.0
    n_embedded: int = 0
    last_embed_time: float | None = None
    best_quality: float = -1.0
    best_embedded: bool = False
    best_time: float = 0.0
    best_reason: str = ""
    best_box: np.ndarray = field(default_factory=lambda: np.zeros(4, np.float32))
    best_crop: bytes | None = None
    best_pending: _PendingFace | None = None  # the best shot, when it is still pending
    best_face_id: int | None = None
    status: str = "open"
    row_id: int | None = None
    pending: list[_PendingFace] = field(default_factory=list)
    candidate: _PendingFace | None = None  # the best usable face since the last embedding
    window_start: float = 0.0  # when the current embedding window opened (start, then each embedding)
    # What was sent to be embedded (the schedule must not wait for embeddings computed elsewhere).
    n_submitted: int = 0
    submitted_quality: float = -1.0
    # Re-identification: the best usable face so far (its crop) and, once needed, its SFace vector.
    reid_face: _PendingFace | None = None
    reid_crop: np.ndarray | None = None
    reid_offset: np.ndarray | None = None
    signature: np.ndarray | None = None

    def predicted(self, t: float) -> np.ndarray:
        return self.box + self.velocity * min(t - self.end, 0.6)

    @property
    def template(self) -> np.ndarray | None:
        if self.template_sum is None or self.template_weight <= 0:
            return None
        return self.template_sum / max(np.linalg.norm(self.template_sum), 1e-12)

    def embedding_due(self, t: float) -> bool:
        """Time to embed the candidate: its window is over and it adds real evidence.

        Waiting for the window's end (rather than embedding a track's first usable face at
        once) means the best face of the window is embedded, and a track shorter than the
        window is embedded once, at its end.
        """
        if self.n_frames < MIN_TRACK_FRAMES or t - self.window_start < EMBED_WINDOW_SECONDS:
            return False
        return self.embedding_worthwhile()

    def embedding_worthwhile(self) -> bool:
        """Embed the candidate if it adds real evidence: the first face, or a clearly better one."""
        if self.candidate is None or self.n_submitted >= MAX_EMBEDDINGS_PER_TRACK:
            return False
        return self.n_submitted == 0 or self.candidate.quality > self.submitted_quality + EMBED_BETTER_BY

    def add(self, face: _PendingFace, rgb: np.ndarray) -> None:
        dt = face.time - self.end
        if dt > 0 and self.n_frames:
            v = (face.box - self.box) / dt
            self.velocity = 0.5 * self.velocity + 0.5 * v  # smoothed: detectors jitter
        self.box = face.box
        self.end = face.time
        self.n_frames += 1
        self.pending.append(face)
        if not is_poor(face.reason):
            if self.candidate is None or face.quality > self.candidate.quality:
                if self.candidate is not None:
                    self.candidate.crop = None  # only one candidate crop per track stays in memory
                face.crop, face.crop_offset = face_crop(rgb, face.box)
                self.candidate = face
            if self.reid_face is None or face.quality > self.reid_face.quality:
                if face.crop is not None:
                    self.reid_crop, self.reid_offset = face.crop, face.crop_offset
                else:
                    self.reid_crop, self.reid_offset = face_crop(rgb, face.box)
                self.reid_face, self.signature = face, None
        if not self.best_embedded and face.quality > self.best_quality:
            # Until a face is embedded, the best shot is simply the best face seen.
            self._set_best(face, _crop_jpeg(rgb, face.box), embedded=False)

    def absorb(self, face: _PendingFace, embedding: np.ndarray) -> None:
        """Add an embedded face to the template; the best embedded face is the best shot."""
        face.embedding = embedding
        w = max(face.quality, 0.05)
        e = embedding.astype(np.float64)
        self.template_sum = w * e if self.template_sum is None else self.template_sum + w * e
        self.template_weight += w
        self.n_embedded += 1
        self.last_embed_time = face.time
        if not self.best_embedded or face.quality > self.best_quality:
            if face.crop is not None:
                jpeg = _crop_jpeg(face.crop, face.box - np.tile(face.crop_offset, 2))
            else:
                jpeg = self.best_crop
            self._set_best(face, jpeg, embedded=True)
        if self.candidate is face:
            self.candidate = None
        face.crop = None

    def _set_best(self, face: _PendingFace, jpeg: bytes | None, *, embedded: bool) -> None:
        self.best_quality = face.quality
        self.best_embedded = embedded
        self.best_time = face.time
        self.best_reason = face.reason
        self.best_box = face.box
        self.best_crop = jpeg
        self.best_pending = face


def _centre_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Distance of two boxes' centres in face widths; 1e6 when their sizes differ a lot."""
    wa, wb = max(a[2] - a[0], 1.0), max(b[2] - b[0], 1.0)
    if not 0.67 <= wa / wb <= 1.5:
        return 1e6
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / max(wa, wb))


@functools.cache
def association_embedder() -> FaceEmbedder:
    """SFace as the re-identification thresholds were fitted for it, loaded once per process.

    Its own instance, not the registry's "sface", which may be swapped for another model.
    """
    return SFaceEmbedder(flip=True, field_adapter=True)


def reid_threshold(quality: float, other_quality: float) -> float:
    """SFace cosine at which two faces of these qualities are taken for one (FMR ``REID_FMR``)."""
    return REID_SFACE_COSINE.get(pair_bin(quality, other_quality), max(REID_SFACE_COSINE.values()))


def _near(a: np.ndarray, b: np.ndarray) -> bool:
    """Box centres within ``REID_DISTANCE`` face widths: a lost track this face could continue."""
    size = max(a[2] - a[0], b[2] - b[0], 1.0)
    gap = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return bool(gap <= REID_DISTANCE * size)


@dataclass
class _EmbedJob:
    """A fused embedding of a track's candidate face, computed in a worker or at ``resolve``."""

    track: _Track
    face: _PendingFace  # holds the crop until the embedding is applied
    faces: Faces  # the face in the crop's coordinates
    future: Future | None = None
    embedding: np.ndarray | None = None


def _worker_start(model_id: str) -> None:
    # One OpenCV thread per worker: the main process's detector uses the others.
    cv2.setNumThreads(1)
    get_engine(model_id)


def _worker_embed(model_id: str, crop: np.ndarray, faces: Faces) -> tuple[np.ndarray, float]:
    """One fused embedding, and the CPU seconds it took (benchmarks count the workers' CPU too)."""
    cpu = time.process_time()
    embedding = get_engine(model_id).embed(crop, faces).embeddings[0]
    return embedding, time.process_time() - cpu


class EmbeddingPool:
    """Worker processes computing fused embeddings while the main process decodes, detects, tracks.

    dlib's descriptor, most of a fused embedding's cost, holds Python's GIL, so threads cannot
    overlap it with detection; processes can. Workers are started once per process and model
    (``embedding_pool``) and load the models themselves (spawned, so no thread state is forked).
    """

    def __init__(self, model_id: str, workers: int) -> None:
        import multiprocessing

        self.model_id = model_id
        self.workers = workers
        self.broken = False
        self.executor = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_worker_start,
            initargs=(model_id,),
        )

    def submit(self, crop: np.ndarray, faces: Faces) -> Future | None:
        """A future of ``(embedding, cpu_seconds)``; None when the pool is broken (embed here)."""
        if self.broken:
            return None
        try:
            return self.executor.submit(_worker_embed, self.model_id, crop, faces)
        except RuntimeError:  # BrokenProcessPool, or shut down: the caller embeds in-process
            self.broken = True
            return None

    def warm_up(self) -> None:
        """Block until every worker has loaded its models (benchmarks time the analysis only)."""
        for future in [self.executor.submit(_worker_start, self.model_id) for _ in range(self.workers)]:
            future.result()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)


_POOLS: dict[tuple[str, int], EmbeddingPool] = {}


def embedding_pool(model_id: str, workers: int) -> EmbeddingPool | None:
    """The process's pool of ``workers`` embedding workers for ``model_id`` (None for 0 workers)."""
    if workers <= 0:
        return None
    pool = _POOLS.get((model_id, workers))
    if pool is None or pool.broken:
        if pool is not None:
            pool.shutdown()
        pool = _POOLS[(model_id, workers)] = EmbeddingPool(model_id, workers)
    return pool


class FaceTracker:
    """ByteTrack-like association of per-frame faces into tracks (IoU, then embeddings)."""

    def __init__(self, engine: FaceEngine, next_no: int = 1, pool: EmbeddingPool | None = None) -> None:
        self.engine = engine
        self.calibration = engine.calibration
        self.pool = pool  # worker processes for the fused embeddings; None: embed in this process
        self.jobs: list[_EmbedJob] = []  # fused embeddings submitted, applied in order by resolve()
        self.active: list[_Track] = []
        self.finished: list[_Track] = []
        self.next_no = next_no
        self.embedded_count = 0  # fused (matching) embeddings
        self.embed_seconds = 0.0  # this process's time computing or awaiting fused embeddings
        self.worker_cpu_seconds = 0.0  # CPU time the workers spent on this tracker's embeddings
        self.signature_count = 0  # SFace association embeddings (re-identification)
        self.signature_seconds = 0.0
        self._association: FaceEmbedder | None = None

    @property
    def association(self) -> FaceEmbedder:
        """The cheap embedder for re-identification, loaded the first time it is needed."""
        if self._association is None:
            self._association = association_embedder()
        return self._association

    def _new_track(self, face: _PendingFace, rgb: np.ndarray) -> _Track:
        track = _Track(
            no=self.next_no,
            start=face.time,
            end=face.time,
            box=face.box,
            velocity=np.zeros(4, np.float32),
            window_start=face.time,
        )
        self.next_no += 1
        track.add(face, rgb)
        return track

    def _embed_candidate(self, track: _Track, t: float) -> None:
        """Send the track's candidate to be embedded; ``resolve`` adds it to the template."""
        face, track.candidate = track.candidate, None
        track.window_start = t
        if face is None or face.crop is None:
            return
        track.n_submitted += 1
        track.submitted_quality = max(track.submitted_quality, face.quality)
        job = _EmbedJob(track, face, face.as_faces())
        if self.pool is not None:
            job.future = self.pool.submit(face.crop, job.faces)
        self.jobs.append(job)

    def resolve(self) -> None:
        """Wait for every submitted fused embedding and apply them in the order they were sent.

        Tracking never reads the templates (association uses the SFace vectors), so where and
        when an embedding is computed does not change any result. Jobs a worker has not
        started are computed here, so this process helps rather than waits.
        """
        if not self.jobs:
            return
        clock = time.perf_counter()
        # From the last job back: the workers take jobs from the front, so this process takes
        # the ones no worker has started and waits only for those already under way.
        for job in reversed(self.jobs):
            if job.future is not None and not job.future.cancel():
                try:
                    job.embedding, cpu = job.future.result()
                    self.worker_cpu_seconds += cpu
                    continue
                except Exception:  # noqa: BLE001 - a broken worker: compute it here instead
                    if self.pool is not None:
                        self.pool.broken = True
            job.embedding = self.engine.embed(job.face.crop, job.faces).embeddings[0]
        self.embed_seconds += time.perf_counter() - clock
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            self.embedded_count += 1
            track, face = job.track, job.face
            if self._drifted(track, job.embedding, face.quality):
                # Unlike the rest of the track (the box slid onto someone else): keep it out of
                # the template, so the track's identity rests on the faces that agree.
                face.crop = None
                continue
            track.absorb(face, job.embedding)

    def embed_pending_candidates(self) -> None:
        """Before a commit: embed candidates that add real evidence, so the stored state is whole."""
        for track in self.active:
            if track.n_frames >= MIN_TRACK_FRAMES and track.embedding_worthwhile():
                self._embed_candidate(track, track.end)

    def _sface(self, crop: np.ndarray, faces: Faces) -> np.ndarray:
        clock = time.perf_counter()
        vector = self.association.embed(crop, faces)[0]
        self.signature_seconds += time.perf_counter() - clock
        self.signature_count += 1
        return vector

    def _signature(self, track: _Track) -> np.ndarray | None:
        """The SFace vector of a track's best usable face, computed once, when re-ID needs it."""
        if track.signature is None and track.reid_face is not None and track.reid_crop is not None:
            track.signature = self._sface(track.reid_crop, track.reid_face.as_faces(track.reid_offset))
        return track.signature

    def update(self, t: float, rgb: np.ndarray, faces: Faces, *, scene_cut: bool = False) -> None:
        """Add one sampled frame's faces (at time ``t``, seconds); a scene cut ends every track."""
        if scene_cut:
            self.close_all()
        pend = [
            _PendingFace(
                time=t,
                box=faces.boxes[i].astype(np.float32),
                landmarks=faces.landmarks[i].astype(np.float32),
                score=float(faces.scores[i]),
                quality=float(faces.quality[i]),
                reason=faces.quality_reason[i],
            )
            for i in range(len(faces))
        ]
        tracks = self.active
        unmatched_tracks = list(range(len(tracks)))
        high = [i for i, p in enumerate(pend) if p.score >= HIGH_SCORE]
        low = [i for i, p in enumerate(pend) if p.score < HIGH_SCORE]
        assigned: dict[int, int] = {}  # detection -> track index
        for dets, min_iou in ((high, IOU_MATCH), (low, IOU_MATCH_WEAK)):
            if not dets or not unmatched_tracks:
                continue
            pred = np.stack([tracks[j].predicted(t) for j in unmatched_tracks])
            iou = box_iou(np.stack([pend[i].box for i in dets]), pred)
            rows, cols = linear_sum_assignment(-iou)
            taken = set()
            for r, c in zip(rows, cols, strict=True):
                if iou[r, c] >= min_iou:
                    assigned[dets[r]] = unmatched_tracks[c]
                    taken.add(unmatched_tracks[c])
            unmatched_tracks = [j for j in unmatched_tracks if j not in taken]
        # Confident faces no box overlap claimed: a track whose predicted box is within a face
        # width, at a similar size, takes them (fast movers at 5 frames/s, detector misses).
        new_faces = [i for i in high if i not in assigned]
        if new_faces and unmatched_tracks:
            gap = np.array(
                [
                    [_centre_gap(tracks[j].predicted(t), pend[i].box) for j in unmatched_tracks]
                    for i in new_faces
                ]
            )
            rows, cols = linear_sum_assignment(gap)
            taken = set()
            for r, c in zip(rows, cols, strict=True):
                if gap[r, c] <= CENTRE_MATCH:
                    assigned[new_faces[r]] = unmatched_tracks[c]
                    taken.add(unmatched_tracks[c])
            unmatched_tracks = [j for j in unmatched_tracks if j not in taken]
            new_faces = [i for i in new_faces if i not in assigned]
        # Still unclaimed: re-identify against tracks lost nearby, by SFace vectors. Only a
        # newcomer with a lost track nearby is embedded, so one-frame false detections cost nothing.
        signatures: dict[int, np.ndarray] = {}
        for i in new_faces:
            if is_poor(pend[i].reason):
                continue
            near = [
                j
                for j in unmatched_tracks
                if tracks[j].reid_face is not None and _near(tracks[j].predicted(t), pend[i].box)
            ]
            if not near:
                continue
            crop, offset = face_crop(rgb, pend[i].box)
            signatures[i] = self._sface(crop, pend[i].as_faces(offset))
            best, best_margin = None, 0.0
            for j in near:
                reference = self._signature(tracks[j])
                if reference is None:
                    continue
                score = float(np.dot(reference, signatures[i]))
                margin = score - reid_threshold(pend[i].quality, tracks[j].reid_face.quality)
                if margin >= best_margin:
                    best, best_margin = j, margin
            if best is not None:
                assigned[i] = best
                unmatched_tracks.remove(best)
        for i, j in assigned.items():
            tracks[j].add(pend[i], rgb)
        for i in new_faces:
            if i not in assigned:
                self.active.append(self._new_track(pend[i], rgb))
        for i, vector in signatures.items():
            # The newcomer's vector serves its track's re-identification later, if it is the best face.
            for track in self.active:
                if track.reid_face is pend[i]:
                    track.signature = vector
        # Each track embeds the best face of its window, not every face.
        for track in self.active:
            if track.embedding_due(t):
                self._embed_candidate(track, t)
        # Close tracks lost for too long.
        still = []
        for track in self.active:
            if t - track.end > MAX_LOST_SECONDS:
                self._close(track)
            else:
                still.append(track)
        self.active = still

    def _drifted(self, track: _Track, embedding: np.ndarray, quality: float) -> bool:
        template = track.template
        if template is None:
            return False
        score = float(np.dot(template, embedding))
        return self.calibration.fmr(score, quality, track.best_quality) > DRIFT_FMR

    def _close(self, track: _Track) -> None:
        if track.n_frames >= MIN_TRACK_FRAMES and track.embedding_worthwhile():
            self._embed_candidate(track, track.end)
        track.candidate = None
        track.reid_face = track.reid_crop = track.signature = None
        track.status = "closed" if track.n_frames >= MIN_TRACK_FRAMES else "dropped"
        self.finished.append(track)

    def close_all(self) -> None:
        for track in self.active:
            self._close(track)
        self.active = []


# -- results ----------------------------------------------------------------------------
@dataclass
class TrackResult:
    track_id: int
    track_no: int
    start: float
    end: float
    frames: int
    best_frame_time: float
    best_box: tuple[float, ...]
    quality: float
    quality_reason: str
    face_id: int | None
    candidates: list[Candidate] = field(default_factory=list)
    cluster: int | None = None

    @property
    def best(self) -> Candidate | None:
        return identified_as(self.candidates)

    @property
    def poor(self) -> bool:
        return is_poor(self.quality_reason)

    def to_dict(self) -> dict[str, Any]:
        best = self.best
        return {
            "track": self.track_no,
            "track_id": self.track_id,
            "start": self.start,
            "end": self.end,
            "frames": self.frames,
            "best_frame_time": self.best_frame_time,
            "best_box": [round(v, 1) for v in self.best_box],
            "quality": round(self.quality, 3),
            "quality_reason": self.quality_reason,
            "poor_quality": self.poor,
            "face_id": self.face_id,
            "person": best.person_name if best else None,
            "cluster": self.cluster,
            "candidates": [
                {
                    "person": c.person_name,
                    "rank": c.rank,
                    "score": round(c.score, 4),
                    "fmr": c.fmr,
                    "above_threshold": c.above_threshold,
                    "status": c.status,
                }
                for c in self.candidates
            ],
        }


@dataclass
class Appearance:
    """Where one person (or one unknown cluster, or one unclustered track) is visible."""

    person: str | None
    person_id: int | None
    cluster: int | None
    start: float
    end: float
    score: float | None
    fmr: float | None  # the match's calibrated FMR; for unknowns, that of the closest enrolled person
    best_frame_time: float
    quality_reason: str
    track_nos: list[int]
    status: str = "candidate"

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "cluster": self.cluster,
            "start": self.start,
            "end": self.end,
            "fmr": self.fmr,
            "score": None if self.score is None else round(self.score, 4),
            "best_frame_time": self.best_frame_time,
            "quality_reason": self.quality_reason,
            "tracks": self.track_nos,
            "status": self.status if self.person else None,
        }


@dataclass
class VideoResult:
    path: str
    evidence: Evidence | None = None
    info: VideoInfo | None = None
    operating_point: str = ""
    sample_fps: float = DEFAULT_SAMPLE_FPS
    tracks: list[TrackResult] = field(default_factory=list)
    appearances: list[Appearance] = field(default_factory=list)
    frames_sampled: int = 0
    error: str | None = None  # a fault in the stream: results cover the part before it
    reused: bool = False  # the analysis came from an earlier run (only matching was redone)
    seconds: float = 0.0  # analysis time of this call
    annotated_path: str | None = None
    contact_sheet_path: str | None = None
    timings: dict[str, float] = field(default_factory=dict)  # seconds per stage of this call's analysis

    def to_dict(self) -> dict[str, Any]:
        info = self.info
        return {
            "media": {
                "path": self.path,
                "sha256": self.evidence.sha256 if self.evidence else None,
                "duration": info.duration if info else None,
                "width": info.width if info else None,
                "height": info.height if info else None,
                "fps": info.fps if info else None,
                "codec": info.codec if info else None,
                "rotation": info.rotation if info else None,
            },
            "operating_point": self.operating_point,
            "sample_fps": self.sample_fps,
            "frames_sampled": self.frames_sampled,
            "error": self.error,
            "reused_earlier_analysis": self.reused,
            "seconds": round(self.seconds, 2),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
            "annotated_video": self.annotated_path,
            "contact_sheet": self.contact_sheet_path,
            "appearances": [a.to_dict() for a in self.appearances],
            "tracks": [t.to_dict() for t in self.tracks],
        }


# -- the video search ----------------------------------------------------------------
class VideoSearch:
    """Video face search on one workspace (see ``search_video``)."""

    def __init__(self, service: FaceService) -> None:
        self.service = service
        self.ws = service.ws
        self.model_id = service.model_id
        self.timings: dict[str, float] = {}  # seconds per stage of the last scan (for benchmarks)

    # -- scanning (resumable) ----------------------------------------------------------
    def _scan_row(
        self, s: Session, evidence: Evidence, info: VideoInfo, fps: float, params: dict
    ) -> VideoScan:
        scan = s.scalar(
            select(VideoScan).where(
                VideoScan.evidence_sha256 == evidence.sha256,
                VideoScan.model_id == self.model_id,
                VideoScan.sample_fps == fps,
            )
        )
        if scan is None:
            scan = VideoScan(
                evidence_sha256=evidence.sha256,
                model_id=self.model_id,
                sample_fps=fps,
                params=params,
                duration=info.duration,
            )
            s.add(scan)
            s.flush()
        return scan

    def _load_open_tracks(self, scan_id: int) -> list[_Track]:
        with self.ws.session() as s:
            rows = s.scalars(
                select(VideoTrack).where(VideoTrack.scan_id == scan_id, VideoTrack.status == "open")
            ).all()
            out = []
            for r in rows:
                out.append(
                    _Track(
                        no=r.track_no,
                        start=r.start,
                        end=r.end,
                        box=np.asarray(r.last_box, np.float32),
                        velocity=np.asarray(r.velocity, np.float32),
                        n_frames=r.n_frames,
                        template_sum=None
                        if r.template_sum is None
                        else np.frombuffer(r.template_sum, np.float64).copy(),
                        template_weight=r.template_weight,
                        n_embedded=r.n_embedded,
                        n_submitted=r.n_embedded,
                        submitted_quality=r.best_quality if r.best_embedded else -1.0,
                        last_embed_time=r.last_embed_time,
                        # The window restarts at the last embedding; the candidate's crop and
                        # the re-identification crop were not stored, so a later face is needed.
                        window_start=r.last_embed_time if r.last_embed_time is not None else r.start,
                        best_quality=r.best_quality,
                        best_embedded=r.best_embedded,
                        best_time=r.best_frame_time,
                        best_reason=r.best_reason,
                        best_box=np.asarray(r.best_box, np.float32),
                        best_crop=r.best_crop,
                        best_face_id=r.best_face_id,
                        row_id=r.id,
                    )
                )
            return out

    def _commit_segment(
        self,
        scan_id: int,
        tracker: FaceTracker,
        sha256: str,
        seg_start: float,
        seg_end: float,
        frames: int,
        faces: int,
        embedded: int,
        seconds: float,
        *,
        final_status: str | None = None,
        error: str | None = None,
    ) -> None:
        """Store one segment's work in one transaction: tracks, detections, faces, progress."""
        tracker.resolve()
        touched = tracker.finished + tracker.active
        with self.ws.session() as s:
            for track in touched:
                self._store_track(s, scan_id, sha256, track)
            s.add(
                VideoSegment(
                    scan_id=scan_id,
                    start=round(seg_start, 4),
                    end=round(seg_end, 4),
                    frames=frames,
                    faces=faces,
                    embedded=embedded,
                    seconds=round(seconds, 3),
                )
            )
            scan = s.get(VideoScan, scan_id)
            scan.processed_until = round(seg_end, 4)
            scan.frames_sampled += frames
            scan.next_track_no = tracker.next_no
            scan.updated_at = utcnow()
            if final_status:
                scan.status = final_status
                scan.error = error
        # Only after the commit: finished tracks leave memory, open ones forget what is stored.
        tracker.finished = []
        for track in tracker.active:
            track.pending = []
            track.best_pending = None

    def _store_track(self, s: Session, scan_id: int, sha256: str, track: _Track) -> None:
        rows_by_face: dict[int, FaceRow] = {}
        for p in track.pending:
            if p.embedding is not None or p is track.best_pending:
                p.row = self._face_row(sha256, p)
                s.add(p.row)
                rows_by_face[id(p)] = p.row
        s.flush()
        if track.best_pending is not None and track.best_pending.row is not None:
            track.best_face_id = track.best_pending.row.id
        row = s.get(VideoTrack, track.row_id) if track.row_id else None
        if row is None:
            row = VideoTrack(scan_id=scan_id, track_no=track.no)
            s.add(row)
        row.status = track.status
        row.start, row.end, row.n_frames = round(track.start, 4), round(track.end, 4), track.n_frames
        row.last_box = [round(float(v), 2) for v in track.box]
        row.velocity = [round(float(v), 3) for v in track.velocity]
        row.template_sum = (
            None if track.template_sum is None else track.template_sum.astype(np.float64).tobytes()
        )
        row.template_weight = track.template_weight
        row.n_embedded = track.n_embedded
        row.last_embed_time = track.last_embed_time
        row.best_face_id = track.best_face_id
        row.best_frame_time = round(track.best_time, 4)
        row.best_quality = track.best_quality
        row.best_reason = track.best_reason
        row.best_box = [round(float(v), 2) for v in track.best_box]
        row.best_embedded = track.best_embedded
        row.best_crop = track.best_crop
        s.flush()
        track.row_id = row.id
        for p in track.pending:
            s.add(
                VideoDetection(
                    track_id=row.id,
                    frame_time=round(p.time, 4),
                    x1=float(p.box[0]),
                    y1=float(p.box[1]),
                    x2=float(p.box[2]),
                    y2=float(p.box[3]),
                    det_score=p.score,
                    quality=p.quality,
                    face_id=p.row.id if p.row is not None else None,
                )
            )

    def _face_row(self, sha256: str, p: _PendingFace) -> FaceRow:
        return FaceRow(
            evidence_sha256=sha256,
            frame_time=round(p.time, 4),
            x1=float(p.box[0]),
            y1=float(p.box[1]),
            x2=float(p.box[2]),
            y2=float(p.box[3]),
            landmarks=p.landmarks.round(2).tolist(),
            det_score=p.score,
            quality=p.quality,
            quality_reason=p.reason,
            embedding=None if p.embedding is None else p.embedding.astype(np.float32).tobytes(),
            model_id=self.model_id,
        )

    def scan(
        self,
        evidence: Evidence,
        info: VideoInfo,
        *,
        fps: float = DEFAULT_SAMPLE_FPS,
        segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
        detect_max_side: int = DEFAULT_DETECT_MAX_SIDE,
        embed_workers: int = DEFAULT_EMBED_WORKERS,
        progress: ProgressFn | None = None,
        stop_after_segments: int | None = None,
    ) -> tuple[int, bool]:
        """Analyse a video into tracks, resuming after the last committed segment.

        Returns ``(scan_id, reused)``; ``reused`` is True when nothing was left to do.
        ``embed_workers`` processes compute the fused embeddings (0: this process does).
        ``stop_after_segments`` stops early (as a kill would), for tests of resumption.
        """
        params = {"detect_max_side": detect_max_side, "segment_seconds": segment_seconds}
        with self.ws.session() as s:
            scan = self._scan_row(s, evidence, info, fps, params)
            scan_id, status = scan.id, scan.status
            resume_at, next_no, done_frames = scan.processed_until, scan.next_track_no, scan.frames_sampled
        if status in ("complete", "partial"):
            return scan_id, True
        engine = self.service.engine
        # Workers start (once per process) before decoding: they load their models while this
        # process detects and tracks the first seconds, which need no fused embedding yet.
        tracker = FaceTracker(engine, next_no=next_no, pool=embedding_pool(engine.model_id, embed_workers))
        tracker.active = self._load_open_tracks(scan_id)
        cut_detector = SceneCutDetector()
        total = info.expected_samples(fps)
        seg_start = resume_at
        seg_end = seg_start + segment_seconds
        frames = faces_n = 0
        embedded_before = tracker.embedded_count
        clock = time.perf_counter()
        segments_done = 0
        last_time = resume_at
        path = evidence.stored_path
        timings = self.timings = {"decode": 0.0, "detect": 0.0, "track_and_embed": 0.0, "embed": 0.0}

        def count_embeddings() -> None:
            # Totals of this scan, including what closing tracks and commits embed.
            timings["embed"] = tracker.embed_seconds
            timings["embedded_faces"] = tracker.embedded_count
            timings["embed_worker_cpu"] = tracker.worker_cpu_seconds
            timings["reid_embed"] = tracker.signature_seconds
            timings["reid_embedded_faces"] = tracker.signature_count

        waited = time.perf_counter()
        try:
            for frame in prefetched(iter_frames(path, fps=fps, start=resume_at, info=info)):
                timings["decode"] += time.perf_counter() - waited
                while frame.time >= seg_end - 1e-6:
                    tracker.embed_pending_candidates()
                    self._commit_segment(
                        scan_id, tracker, evidence.sha256, seg_start, seg_end, frames, faces_n,
                        tracker.embedded_count - embedded_before, time.perf_counter() - clock,
                    )  # fmt: skip
                    segments_done += 1
                    if stop_after_segments is not None and segments_done >= stop_after_segments:
                        return scan_id, False
                    seg_start, seg_end = seg_end, seg_end + segment_seconds
                    frames = faces_n = 0
                    embedded_before = tracker.embedded_count
                    clock = time.perf_counter()
                t_detect = time.perf_counter()
                detected = detect_frame(engine, frame.rgb, detect_max_side)
                t_track = time.perf_counter()
                tracker.update(frame.time, frame.rgb, detected, scene_cut=cut_detector(frame.rgb))
                timings["detect"] += t_track - t_detect
                timings["track_and_embed"] += time.perf_counter() - t_track
                count_embeddings()
                frames += 1
                faces_n += len(detected)
                last_time = frame.time
                if progress:
                    progress(min(done_frames + frames, total), total, evidence.original_name)
                waited = time.perf_counter()
        except TruncatedVideoError as exc:
            tracker.close_all()
            tracker.resolve()
            count_embeddings()
            self._commit_segment(
                scan_id, tracker, evidence.sha256, seg_start, max(last_time, seg_start), frames, faces_n,
                tracker.embedded_count - embedded_before, time.perf_counter() - clock,
                final_status="partial", error=exc.reason,
            )  # fmt: skip
            return scan_id, False
        tracker.close_all()
        tracker.resolve()
        count_embeddings()
        if progress:
            progress(done_frames + frames, done_frames + frames, evidence.original_name)
        end = max(info.duration, last_time)
        self._commit_segment(
            scan_id, tracker, evidence.sha256, seg_start, min(end, seg_end), frames, faces_n,
            tracker.embedded_count - embedded_before, time.perf_counter() - clock,
            final_status="complete",
        )  # fmt: skip
        return scan_id, False

    # -- matching, clustering, appearances ----------------------------------------------
    def match_tracks(self, scan_id: int, *, fpir: float, k: int, watchlist: str | None) -> list[TrackResult]:
        """Track-level 1:N search of every reported track's template; results stored."""
        with self.ws.session() as s:
            rows = s.scalars(
                select(VideoTrack)
                .where(VideoTrack.scan_id == scan_id, VideoTrack.status == "closed")
                .order_by(VideoTrack.start, VideoTrack.track_no)
            ).all()
            items = [
                (
                    r.id,
                    None if r.template_sum is None else np.frombuffer(r.template_sum, np.float64),
                    r.best_quality,
                    r.best_reason,
                )
                for r in rows
            ]
        with_template = [(tid, t, q, reason) for tid, t, q, reason in items if t is not None]
        candidates: dict[int, list[Candidate]] = {}
        if with_template:
            templates = np.stack([t / max(np.linalg.norm(t), 1e-12) for _, t, _, _ in with_template])
            lists = self.service.match_faces(
                templates.astype(np.float32),
                np.array([q for _, _, q, _ in with_template], np.float32),
                [reason for _, _, _, reason in with_template],
                fpir=fpir,
                k=k,
                watchlist=watchlist,
            )
            candidates = {tid: c for (tid, _, _, _), c in zip(with_template, lists, strict=True)}
        results = []
        with self.ws.session() as s:
            for r in s.scalars(
                select(VideoTrack)
                .where(VideoTrack.scan_id == scan_id, VideoTrack.status == "closed")
                .order_by(VideoTrack.start, VideoTrack.track_no)
            ):
                cands = candidates.get(r.id, [])
                if r.best_face_id is not None and cands:
                    # The track's best face carries the match, so the review queue
                    # (imint candidates / confirm / reject) covers video too.
                    cands = self.service.record_matches(s, r.best_face_id, cands)
                best = identified_as(cands)
                r.person_id = best.person_id if best else None
                r.score = (best or (cands[0] if cands else None)).score if cands else None
                r.fmr = (best or cands[0]).fmr if cands else None
                if best is not None:
                    r.cluster_id = None
                results.append(
                    TrackResult(
                        track_id=r.id,
                        track_no=r.track_no,
                        start=r.start,
                        end=r.end,
                        frames=r.n_frames,
                        best_frame_time=r.best_frame_time,
                        best_box=tuple(r.best_box),
                        quality=r.best_quality,
                        quality_reason=r.best_reason,
                        face_id=r.best_face_id,
                        candidates=cands,
                        cluster=r.cluster_id,
                    )
                )
        return results

    def appearances(self, scan_id: int, tracks: list[TrackResult], operating_point: str) -> list[Appearance]:
        """Merge a person's (or a cluster's) tracks that follow within ``MERGE_GAP_SECONDS``."""
        groups: dict[tuple[str, int], list[TrackResult]] = {}
        for t in tracks:
            best = t.best
            if best is not None:
                key = ("person", best.person_id)
            elif t.cluster is not None:
                key = ("cluster", t.cluster)
            else:
                key = ("track", t.track_id)
            groups.setdefault(key, []).append(t)
        out: list[Appearance] = []
        for (kind, _), members in groups.items():
            members.sort(key=lambda t: t.start)
            runs: list[list[TrackResult]] = [[members[0]]]
            for t in members[1:]:
                if t.start - max(m.end for m in runs[-1]) <= MERGE_GAP_SECONDS:
                    runs[-1].append(t)
                else:
                    runs.append([t])
            for run in runs:
                top = [c for t in run for c in t.candidates[:1]]
                best_match = (
                    min((t.best for t in run if t.best), key=lambda c: c.fmr) if kind == "person" else None
                )
                closest = best_match or (min(top, key=lambda c: c.fmr) if top else None)
                shot = max(run, key=lambda t: (not t.poor, t.quality))
                out.append(
                    Appearance(
                        person=best_match.person_name if best_match else None,
                        person_id=best_match.person_id if best_match else None,
                        cluster=run[0].cluster if kind == "cluster" else None,
                        start=min(t.start for t in run),
                        end=max(t.end for t in run),
                        score=closest.score if closest else None,
                        fmr=closest.fmr if closest else None,
                        best_frame_time=shot.best_frame_time,
                        quality_reason=shot.quality_reason,
                        track_nos=[t.track_no for t in run],
                        status=best_match.status if best_match else "candidate",
                    )
                )
        out.sort(key=lambda a: (a.start, a.person is None))
        with self.ws.session() as s:
            s.execute(delete(VideoAppearance).where(VideoAppearance.scan_id == scan_id))
            by_no = {t.track_no: t.track_id for t in tracks}
            for a in out:
                s.add(
                    VideoAppearance(
                        scan_id=scan_id,
                        person_id=a.person_id,
                        cluster_id=a.cluster,
                        start=a.start,
                        end=a.end,
                        score=a.score,
                        fmr=a.fmr,
                        best_frame_time=a.best_frame_time,
                        track_ids=[by_no[n] for n in a.track_nos],
                        operating_point=operating_point,
                    )
                )
        return out

    # -- outputs ----------------------------------------------------------------------
    def write_annotated(
        self,
        evidence: Evidence,
        info: VideoInfo,
        scan_id: int,
        tracks: list[TrackResult],
        out_dir: Path,
        *,
        fps: float,
        max_side: int = 1280,
    ) -> Path:
        """An MP4 of the sampled frames with every tracked face boxed and labelled."""
        import av

        label_of: dict[int, tuple[str, str]] = {}
        for t in tracks:
            best = t.best
            if best is not None:
                state = "confirmed" if best.status == "confirmed" else "match"
                label_of[t.track_id] = (f"{best.person_name} ({format_fmr(best.fmr)})", state)
            elif t.poor:
                label_of[t.track_id] = (f"#{t.track_no} poor quality", "poor")
            else:
                cluster = f" c{t.cluster}" if t.cluster is not None else ""
                label_of[t.track_id] = (f"#{t.track_no} unknown{cluster}", "unknown")
        boxes_at: dict[float, list[tuple[tuple[float, ...], str, str]]] = {}
        with self.ws.session() as s:
            for d in s.scalars(select(VideoDetection).join(VideoTrack).where(VideoTrack.scan_id == scan_id)):
                label, state = label_of.get(d.track_id, ("", "unknown"))
                boxes_at.setdefault(round(d.frame_time, 3), []).append(
                    ((d.x1, d.y1, d.x2, d.y2), label, state)
                )
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{Path(evidence.original_name).stem}-{evidence.sha256[:8]}.mp4"
        tmp = out.with_name(f".{out.name}.partial.mp4")
        scale = min(1.0, max_side / max(info.width, info.height))
        width, height = (int(round(v * scale / 2)) * 2 for v in (info.width, info.height))
        container = av.open(str(tmp), "w")
        try:
            stream = container.add_stream("libx264", rate=max(1, round(fps)))
            stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
            stream.options = {"preset": "veryfast", "crf": "23"}
            try:
                for frame in iter_frames(evidence.stored_path, fps=fps, info=info):
                    img = draw_faces(frame.rgb, boxes_at.get(round(frame.time, 3), []))
                    img = cv2.resize(img, (width, height), interpolation=cv2.INTER_AREA)
                    cv2.putText(
                        img, f"{frame.time:7.2f} s", (8, height - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        (255, 255, 255), 1, cv2.LINE_AA,
                    )  # fmt: skip
                    for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                        container.mux(packet)
            except TruncatedVideoError:
                pass  # the annotated video covers the good part, like the analysis
            for packet in stream.encode():
                container.mux(packet)
        finally:
            container.close()
        tmp.replace(out)
        return out

    def write_contact_sheet(
        self, evidence: Evidence, scan_id: int, tracks: list[TrackResult], out_dir: Path, *, cell: int = 160
    ) -> Path:
        """A PNG grid of every track's best shot with its time span and identity."""
        from PIL import Image, ImageDraw, ImageFont

        crops: dict[int, bytes | None] = {}
        with self.ws.session() as s:
            for tid, crop in s.execute(
                select(VideoTrack.id, VideoTrack.best_crop).where(VideoTrack.scan_id == scan_id)
            ):
                crops[tid] = crop
        cols = max(1, min(6, len(tracks)))
        rows = max(1, math.ceil(len(tracks) / cols))
        caption = 46
        sheet = Image.new("RGB", (cols * cell, rows * (cell + caption) + 28), "white")
        draw = ImageDraw.Draw(sheet)
        font = ImageFont.load_default(size=12)
        draw.text(
            (6, 6),
            f"{evidence.original_name}  {evidence.sha256[:12]}  {len(tracks)} tracks",
            fill="black",
            font=font,
        )
        for i, t in enumerate(tracks):
            x, y = (i % cols) * cell, 28 + (i // cols) * (cell + caption)
            data = crops.get(t.track_id)
            if data:
                img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
                sheet.paste(
                    Image.fromarray(cv2.cvtColor(img, cv2.COLOR_BGR2RGB)).resize((cell, cell)), (x, y)
                )
            best = t.best
            who = (
                f"{best.person_name}"
                if best
                else ("poor quality" if t.poor else f"unknown{f' c{t.cluster}' if t.cluster else ''}")
            )
            colour = (200, 120, 0) if best else (90, 90, 90)
            draw.text(
                (x + 4, y + cell + 2), f"#{t.track_no} {t.start:.1f}-{t.end:.1f} s", fill="black", font=font
            )
            draw.text((x + 4, y + cell + 16), who[:24], fill=colour, font=font)
            if best:
                draw.text((x + 4, y + cell + 30), format_fmr(best.fmr), fill=colour, font=font)
        out_dir.mkdir(parents=True, exist_ok=True)
        out = out_dir / f"{Path(evidence.original_name).stem}-{evidence.sha256[:8]}-tracks.png"
        tmp = out.with_name(f".{out.name}.partial.png")
        sheet.save(tmp, format="PNG")
        tmp.replace(out)
        return out


# -- clustering of unknown tracks with unknown photo faces ---------------------------------
def cluster_tracks(service: FaceService, *, fmr: float = DEFAULT_CLUSTER_FMR) -> dict[int, int]:
    """Cluster every unknown track of the workspace with the unknown faces of its photos.

    A track counts once, by its template (at its best quality); a photo face by its own
    embedding. Cluster ids carry over from earlier runs by majority, as in photo clustering,
    and a track's stored faces follow its cluster so ``imint clusters`` lists them too.
    Returns ``{track_id: cluster_id}``.
    """
    if not 0 < fmr < 1:
        raise ValidationError("the clustering FMR must be between 0 and 1", subject="fmr")
    cal = service.engine.calibration
    with service.ws.session() as s:
        tracks = s.scalars(
            select(VideoTrack)
            .join(VideoScan, VideoScan.id == VideoTrack.scan_id)
            .where(
                VideoScan.model_id == service.model_id,
                VideoTrack.status == "closed",
                VideoTrack.person_id.is_(None),
                VideoTrack.template_sum.is_not(None),
            )
            .order_by(VideoTrack.id)
        ).all()
        refs = set(s.scalars(select(ReferencePhoto.face_id)))
        matched = set(s.scalars(select(Match.face_id).where(Match.status != "rejected")))
        photo_faces = [
            f
            for f in s.scalars(
                select(FaceRow).where(
                    FaceRow.model_id == service.model_id,
                    FaceRow.frame_time.is_(None),
                    FaceRow.embedding.is_not(None),
                )
            )
            if f.id not in refs and f.id not in matched and not is_poor(f.quality_reason)
        ]
        if not tracks:
            return {}
        vecs = [np.frombuffer(t.template_sum, np.float64) for t in tracks]
        vecs += [np.frombuffer(f.embedding, np.float32).astype(np.float64) for f in photo_faces]
        emb = np.stack([v / max(np.linalg.norm(v), 1e-12) for v in vecs]).astype(np.float32)
        quality = np.array([t.best_quality for t in tracks] + [f.quality for f in photo_faces])
        # Two tracks seen at the same time in one video are two people.
        cannot_link = [
            (i, j)
            for i in range(len(tracks))
            for j in range(i + 1, len(tracks))
            if tracks[i].scan_id == tracks[j].scan_id
            and tracks[i].start <= tracks[j].end
            and tracks[j].start <= tracks[i].end
        ]
        labels = cluster_embeddings(emb, quality, cal, fmr=fmr, cannot_link=cannot_link)
        old = [t.cluster_id for t in tracks] + [f.cluster_id for f in photo_faces]
        out: dict[int, int] = {}
        for i, cid in enumerate(carry_cluster_ids(s, labels, old)):
            if i < len(tracks):
                tracks[i].cluster_id = cid
                out[tracks[i].id] = cid
            else:
                photo_faces[i - len(tracks)].cluster_id = cid
        # A track's stored faces follow its cluster.
        face_ids = {
            d.face_id: out[d.track_id]
            for d in s.scalars(select(VideoDetection).where(VideoDetection.track_id.in_(list(out))))
            if d.face_id is not None
        }
        for f in s.scalars(select(FaceRow).where(FaceRow.id.in_(list(face_ids)))):
            f.cluster_id = face_ids[f.id]
        return out


# -- the library call --------------------------------------------------------------------
def search_video(
    ws: Workspace,
    path: str | Path,
    *,
    fpir: float = DEFAULT_FPIR,
    k: int = 5,
    watchlist: str | None = None,
    fps: float = DEFAULT_SAMPLE_FPS,
    annotate_dir: str | Path | None = None,
    contact_sheet: bool = True,
    cluster: bool = True,
    cluster_fmr: float = DEFAULT_CLUSTER_FMR,
    segment_seconds: float = DEFAULT_SEGMENT_SECONDS,
    detect_max_side: int = DEFAULT_DETECT_MAX_SIDE,
    embed_workers: int = DEFAULT_EMBED_WORKERS,
    progress: ProgressFn | None = None,
) -> VideoResult:
    """Find enrolled people in a video: appearances with time spans, FMRs and best shots.

    The file is ingested (hash, evidence store, custody), analysed into face tracks
    (resuming an interrupted earlier run, or reusing a finished one), and each track is
    searched 1:N at the operating point ``fpir``. Unknown tracks are clustered with the
    workspace's other unknown faces. With ``annotate_dir``, an annotated MP4 and a contact
    sheet PNG are written there. Raises ``BadInputError`` for files that are not readable
    video; a stream that breaks midway gives results for the part before the fault and
    ``result.error``.
    """
    if not 0 < fpir < 1:
        raise ValidationError("FPIR must be between 0 and 1", subject="fpir")
    if not 0 < fps <= 60:
        raise ValidationError("sampling rate must be between 0 and 60 frames per second", subject="fps")
    if segment_seconds <= 0:
        raise ValidationError("segment length must be positive", subject="segment_seconds")
    if embed_workers < 0:
        raise ValidationError("the number of embedding workers cannot be negative", subject="embed_workers")
    service = ws.faces
    search = VideoSearch(service)
    path = Path(path)
    clock = time.perf_counter()
    with ws.session() as s:
        evidence = ingest_file(s, ws.objects_dir, path, added_by=ws.user, source=str(path))
        if evidence.kind != "video":
            raise BadInputError(f"not a video (detected as {evidence.kind})", subject=path)
        # Probing inside the ingest transaction: a file FFmpeg cannot read is not stored.
        try:
            info = probe_video(evidence.stored_path)
        except BadInputError as exc:
            raise BadInputError(exc.reason, subject=path) from None
    result = VideoResult(
        path=str(path), evidence=evidence, info=info, operating_point=f"fpir={fpir:g}", sample_fps=fps
    )
    scan_id, reused = search.scan(
        evidence,
        info,
        fps=fps,
        segment_seconds=segment_seconds,
        detect_max_side=detect_max_side,
        embed_workers=embed_workers,
        progress=progress,
    )
    result.reused = reused
    result.timings = dict(search.timings) if not reused else {}
    tracks = search.match_tracks(scan_id, fpir=fpir, k=k, watchlist=watchlist)
    if cluster:
        clusters = cluster_tracks(service, fmr=cluster_fmr)
        for t in tracks:
            t.cluster = clusters.get(t.track_id) if t.best is None else None
    result.tracks = tracks
    result.appearances = search.appearances(scan_id, tracks, result.operating_point)
    with ws.session() as s:
        scan = s.get(VideoScan, scan_id)
        result.error = scan.error
        result.frames_sampled = scan.frames_sampled
        log_custody(
            s,
            evidence.sha256,
            "searched-video",
            ws.user,
            model=service.model_id,
            fpir=fpir,
            sample_fps=fps,
            tracks=len(tracks),
            appearances=len(result.appearances),
        )
    if annotate_dir is not None:
        out_dir = Path(annotate_dir)
        result.annotated_path = str(search.write_annotated(evidence, info, scan_id, tracks, out_dir, fps=fps))
        if contact_sheet:
            result.contact_sheet_path = str(search.write_contact_sheet(evidence, scan_id, tracks, out_dir))
        with ws.session() as s:
            log_custody(s, evidence.sha256, "exported", ws.user, annotated=result.annotated_path)
    result.seconds = time.perf_counter() - clock
    return result


def split_media(paths: Sequence[str | Path]) -> tuple[list[Path], list[Path]]:
    """Split files and folders into photos and videos (see ``imint.media.sniff.sort_media``)."""
    return sort_media(paths)


__all__ = [
    "Appearance",
    "EmbeddingPool",
    "FaceTracker",
    "TrackResult",
    "VideoResult",
    "VideoSearch",
    "cluster_tracks",
    "assess_on_crops",
    "detect_frame",
    "embedding_pool",
    "embed_faces",
    "search_video",
    "split_media",
]
