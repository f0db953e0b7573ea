"""ByteTrack-like face tracking across sampled frames, with scene cuts and re-identification.

Confident detections are matched to tracks by IoU with the track's box moved along its
velocity, then weaker detections to the tracks left. A confident detection no track claims,
near a track lost a moment ago, is compared with that track's best face by a cheap
*association* embedding (SFace alone, a quarter of the cost of the fused matching embedding),
so a face that jumped or was hidden for a moment keeps its track; otherwise it starts a new
one. A scene cut (colour histograms) ends every track.

Each track sends only its best face per window to be embedded by the engine's fused,
calibrated embedder (``Track.embedding_due``); ``FaceTracker.resolve`` adds the embeddings
to the templates in the order they were asked for, keeping a face unlike its track's
template out of it.
"""

from __future__ import annotations

import functools
from concurrent.futures import Future
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy.optimize import linear_sum_assignment

from imint.faces.calibration import pair_bin
from imint.faces.engine import FaceEngine
from imint.faces.models import FaceEmbedder, SFaceEmbedder
from imint.faces.quality import is_poor
from imint.faces.video.detect import face_crop
from imint.faces.video.pool import EmbeddingPool
from imint.faces.video.stats import ScanStats
from imint.faces.video.track import MIN_TRACK_FRAMES, PendingFace, Track
from imint.records import Faces, box_iou

HIGH_SCORE = 0.8  # ByteTrack's split between confident and weak detections
IOU_MATCH = 0.25  # confident detection <-> predicted track box
IOU_MATCH_WEAK = 0.45
CENTRE_MATCH = 1.0  # unclaimed confident face <-> track predicted within this many face widths
MAX_LOST_SECONDS = 1.5  # a track not seen for this long is closed
# Re-identification compares SFace vectors (int8 SFace with flip TTA, the field network and
# adapter), not the fused matching embedding: the decision is local (a face within a few face
# widths of where a track was lost a moment ago). The fused calibration does not apply to SFace
# alone, so the thresholds are SFace cosines at FMR ``REID_FMR`` per quality-pair bin, fitted on
# the DEV faces (docs/video.md says how; refit them if SFace, the landmark refiner, the field
# network or its adapter change). A pair in a bin without them takes the strictest threshold.
REID_FMR = 1e-2
REID_SFACE_COSINE = {
    "medium+medium": 0.257,
    "medium+high": 0.215,
    "high+high": 0.297,
}
REID_DISTANCE = 3.0  # "nearby", in face widths between box centres
DRIFT_FMR = 0.1  # a face this unlike its track's template (calibrated FMR) stays out of the template
SCENE_CUT_CORRELATION = 0.7  # colour-histogram correlation of consecutive samples below this: a cut


class SceneCutDetector:
    """Flags a cut between consecutive sampled frames (colour histograms of a thumbnail).

    IoU alone would carry a track across a cut onto whoever is at the same place in the
    next shot.
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


def _centre_gap(a: np.ndarray, b: np.ndarray) -> float:
    """Distance of two boxes' centres in face widths; 1e6 when their sizes differ a lot."""
    wa, wb = max(a[2] - a[0], 1.0), max(b[2] - b[0], 1.0)
    if not 0.67 <= wa / wb <= 1.5:
        return 1e6
    return float(np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2) / max(wa, wb))


def _near(a: np.ndarray, b: np.ndarray) -> bool:
    """Box centres within ``REID_DISTANCE`` face widths: a lost track this face could continue."""
    size = max(a[2] - a[0], b[2] - b[0], 1.0)
    gap = np.hypot((a[0] + a[2] - b[0] - b[2]) / 2, (a[1] + a[3] - b[1] - b[3]) / 2)
    return bool(gap <= REID_DISTANCE * size)


def _assign(cost: np.ndarray, acceptable: np.ndarray) -> list[tuple[int, int]]:
    """The (row, column) pairs of the cheapest one-to-one assignment that are ``acceptable``."""
    rows, cols = linear_sum_assignment(cost)
    return [(r, c) for r, c in zip(rows, cols, strict=True) if acceptable[r, c]]


@functools.cache
def association_embedder() -> FaceEmbedder:
    """SFace as the re-identification thresholds were fitted for it, loaded once per process.

    Its own instance, not the registry's "sface", which may be swapped for another model.
    """
    return SFaceEmbedder(flip=True, field_adapter=True)


def reid_threshold(quality: float, other_quality: float) -> float:
    """SFace cosine at which two faces of these qualities are taken for one (FMR ``REID_FMR``)."""
    return REID_SFACE_COSINE.get(pair_bin(quality, other_quality), max(REID_SFACE_COSINE.values()))


@dataclass
class _EmbedJob:
    """A fused embedding of a track's candidate face, computed in a worker or at ``resolve``."""

    track: Track
    face: PendingFace  # holds the crop until the embedding is applied
    faces: Faces  # the face in the crop's coordinates
    future: Future | None = None
    embedding: np.ndarray | None = None


@dataclass
class _FrameMatch:
    """One frame's association under way: its faces, the tracks still free, what was assigned."""

    t: float
    faces: list[PendingFace]
    free: list[int]  # indexes of active tracks no face has taken yet
    assigned: dict[int, int] = field(default_factory=dict)  # face index -> track index

    def take(self, pairs: list[tuple[int, int]]) -> None:
        """Assign ``(face index, track index)`` pairs; those tracks are no longer free."""
        for i, j in pairs:
            self.assigned[i] = j
        taken = {j for _, j in pairs}
        self.free = [j for j in self.free if j not in taken]


class FaceTracker:
    """ByteTrack-like association of per-frame faces into tracks (IoU, then embeddings)."""

    def __init__(
        self,
        engine: FaceEngine,
        next_no: int = 1,
        pool: EmbeddingPool | None = None,
        stats: ScanStats | None = None,
    ) -> None:
        self.engine = engine
        self.calibration = engine.calibration
        self.pool = pool  # worker processes for the fused embeddings; None: embed in this process
        self.stats = stats if stats is not None else ScanStats()
        self.jobs: list[_EmbedJob] = []  # fused embeddings submitted, applied in order by resolve()
        self.active: list[Track] = []
        self.finished: list[Track] = []
        self.next_no = next_no
        self.embedded_count = 0  # fused (matching) embeddings applied
        self._association: FaceEmbedder | None = None

    @property
    def association(self) -> FaceEmbedder:
        """The cheap embedder for re-identification, loaded the first time it is needed."""
        if self._association is None:
            self._association = association_embedder()
        return self._association

    # -- one frame ---------------------------------------------------------------------
    def update(self, t: float, rgb: np.ndarray, faces: Faces, *, scene_cut: bool = False) -> None:
        """Add one sampled frame's faces (at time ``t``, seconds); a scene cut ends every track."""
        if scene_cut:
            self.close_all()
        match = _FrameMatch(t, _pending_faces(t, faces), list(range(len(self.active))))
        high = [i for i, p in enumerate(match.faces) if p.score >= HIGH_SCORE]
        low = [i for i, p in enumerate(match.faces) if p.score < HIGH_SCORE]
        self._match_by_overlap(match, high, IOU_MATCH)
        self._match_by_overlap(match, low, IOU_MATCH_WEAK)
        # Confident faces no box overlap claimed: a track whose predicted box is within a face
        # width, at a similar size, takes them (fast movers at 5 frames/s, detector misses).
        newcomers = self._match_by_centre(match, [i for i in high if i not in match.assigned])
        # Still unclaimed: re-identify against tracks lost nearby, by SFace vectors.
        signatures = self._reidentify(match, newcomers, rgb)
        for i, j in match.assigned.items():
            self.active[j].add(match.faces[i], rgb)
        for i in newcomers:
            if i not in match.assigned:
                self.active.append(self._new_track(match.faces[i], rgb))
        for i, vector in signatures.items():
            # The newcomer's vector serves its track's re-identification later, if it is the best face.
            for track in self.active:
                if track.reid_face is match.faces[i]:
                    track.signature = vector
        # Each track embeds the best face of its window, not every face.
        for track in self.active:
            if track.embedding_due(t):
                self._embed_candidate(track, t)
        self._close_lost(t)

    def _match_by_overlap(self, match: _FrameMatch, faces: list[int], min_iou: float) -> None:
        if not faces or not match.free:
            return
        predicted = np.stack([self.active[j].predicted(match.t) for j in match.free])
        iou = box_iou(np.stack([match.faces[i].box for i in faces]), predicted)
        match.take([(faces[r], match.free[c]) for r, c in _assign(-iou, iou >= min_iou)])

    def _match_by_centre(self, match: _FrameMatch, faces: list[int]) -> list[int]:
        """Give free tracks the faces their predicted box is close to; the faces left over."""
        if not faces or not match.free:
            return faces
        gap = np.array(
            [[_centre_gap(self.active[j].predicted(match.t), match.faces[i].box) for j in match.free]
             for i in faces]
        )  # fmt: skip
        match.take([(faces[r], match.free[c]) for r, c in _assign(gap, gap <= CENTRE_MATCH)])
        return [i for i in faces if i not in match.assigned]

    def _reidentify(self, match: _FrameMatch, faces: list[int], rgb: np.ndarray) -> dict[int, np.ndarray]:
        """Join newcomers to free tracks lost nearby whose best face's SFace vector is close enough.

        Only a newcomer with a lost track nearby is embedded, so one-frame false detections
        cost nothing. Returns the newcomers' SFace vectors by face index.
        """
        signatures: dict[int, np.ndarray] = {}
        for i in faces:
            face = match.faces[i]
            if is_poor(face.reason):
                continue
            near = [
                j
                for j in match.free
                if self.active[j].reid_face is not None and _near(self.active[j].predicted(match.t), face.box)
            ]
            if not near:
                continue
            crop, offset = face_crop(rgb, face.box)
            signatures[i] = self._sface(crop, face.as_faces(offset))
            best, best_margin = None, 0.0
            for j in near:
                reference = self._signature(self.active[j])
                if reference is None:
                    continue
                score = float(np.dot(reference, signatures[i]))
                margin = score - reid_threshold(face.quality, self.active[j].reid_face.quality)
                if margin >= best_margin:
                    best, best_margin = j, margin
            if best is not None:
                match.take([(i, best)])
        return signatures

    def _new_track(self, face: PendingFace, rgb: np.ndarray) -> Track:
        track = Track(
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

    def _sface(self, crop: np.ndarray, faces: Faces) -> np.ndarray:
        with self.stats.timing("reid_embed"):
            vector = self.association.embed(crop, faces)[0]
        self.stats.reid_embedded_faces += 1
        return vector

    def _signature(self, track: Track) -> np.ndarray | None:
        """The SFace vector of a track's best usable face, computed once, when re-ID needs it."""
        if track.signature is None and track.reid_face is not None and track.reid_crop is not None:
            track.signature = self._sface(track.reid_crop, track.reid_face.as_faces(track.reid_offset))
        return track.signature

    # -- fused embeddings --------------------------------------------------------------------
    def _embed_candidate(self, track: Track, t: float) -> None:
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
        with self.stats.timing("embed"):
            # From the last job back: the workers take jobs from the front, so this process takes
            # the ones no worker has started and waits only for those already under way.
            for job in reversed(self.jobs):
                job.embedding = self._worker_result(job)
                if job.embedding is None:
                    job.embedding = self.engine.embed(job.face.crop, job.faces).embeddings[0]
        jobs, self.jobs = self.jobs, []
        for job in jobs:
            self.embedded_count += 1
            self.stats.embedded_faces += 1
            track, face = job.track, job.face
            if self._drifted(track, job.embedding, face.quality):
                # Unlike the rest of the track (the box slid onto someone else): keep it out of
                # the template, so the track's identity rests on the faces that agree.
                face.crop = None
                continue
            track.absorb(face, job.embedding)

    def _worker_result(self, job: _EmbedJob) -> np.ndarray | None:
        """The worker's embedding of a job; None if no worker has started it or the worker failed."""
        if job.future is None or job.future.cancel():
            return None
        try:
            embedding, cpu = job.future.result()
        except Exception:  # noqa: BLE001 - a broken worker: the caller computes it here instead
            if self.pool is not None:
                self.pool.broken = True
            return None
        self.stats.embed_worker_cpu += cpu
        return embedding

    def embed_pending_candidates(self) -> None:
        """Before a commit: embed candidates that add real evidence, so the stored state is whole."""
        for track in self.active:
            if track.n_frames >= MIN_TRACK_FRAMES and track.embedding_worthwhile():
                self._embed_candidate(track, track.end)

    def _drifted(self, track: Track, embedding: np.ndarray, quality: float) -> bool:
        template = track.template
        if template is None:
            return False
        score = float(np.dot(template, embedding))
        return self.calibration.fmr(score, quality, track.best_quality) > DRIFT_FMR

    # -- closing -------------------------------------------------------------------------
    def _close_lost(self, t: float) -> None:
        """Close the tracks not seen for ``MAX_LOST_SECONDS``."""
        still = []
        for track in self.active:
            if t - track.end > MAX_LOST_SECONDS:
                self._close(track)
            else:
                still.append(track)
        self.active = still

    def _close(self, track: Track) -> None:
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


def _pending_faces(t: float, faces: Faces) -> list[PendingFace]:
    return [
        PendingFace(
            time=t,
            box=faces.boxes[i].astype(np.float32),
            landmarks=faces.landmarks[i].astype(np.float32),
            score=float(faces.scores[i]),
            quality=float(faces.quality[i]),
            reason=faces.quality_reason[i],
        )
        for i in range(len(faces))
    ]
