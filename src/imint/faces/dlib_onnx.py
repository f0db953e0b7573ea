"""dlib's ResNet face descriptor (``dlib_face_recognition_resnet_model_v1``) run by onnxruntime.

``dlib_resnet.onnx`` is dlib's network converted without retraining by
training/faces/convert_dlib_resnet.py (weights: the ``face-recognition-models`` wheel, CC0);
its descriptors equal dlib's to within 1e-4 on the normalised vector (tests/test_faces_dlib_onnx.py).
dlib-bin is built without BLAS and needs about 100 ms a chip; this runs the same chips
several times faster. dlib itself still finds the 5 landmarks and cuts the 150 px chips.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from imint.errors import NotFoundError
from imint.faces.onnx_sessions import register_session_cache, session_options

DLIB_RESNET_FILE = Path(__file__).parent / "dlib_resnet.onnx"
CHIP_SIZE = 150
DESCRIPTOR_DIM = 128
# Chips per onnxruntime run: a crowd photo is cut into runs of this many so that the
# activations (about 1 MB a chip in the first layers) stay bounded.
MAX_BATCH = 64


class DlibResNet:
    """One onnxruntime session over the converted network; ``run`` is thread-safe in onnxruntime."""

    def __init__(self, path: Path = DLIB_RESNET_FILE, threads: int | None = None) -> None:
        import onnxruntime as ort

        if not path.exists():
            raise NotFoundError(
                "dlib ResNet model missing (make it with training/faces/convert_dlib_resnet.py)", subject=path
            )
        # One thread unless the process asked for more (imint.faces.onnx_sessions): parallel work comes
        # from worker processes, which would fight over per-call thread pools.
        self._session = ort.InferenceSession(
            str(path), session_options(threads), providers=["CPUExecutionProvider"]
        )

    def descriptors(self, chips: list[np.ndarray]) -> np.ndarray:
        """dlib's raw (not normalised) 128-d descriptors of uint8 RGB 150 px chips."""
        if not chips:
            return np.zeros((0, DESCRIPTOR_DIM), np.float32)
        batch = np.stack([np.asarray(c, np.uint8) for c in chips])
        if batch.shape[1:] != (CHIP_SIZE, CHIP_SIZE, 3):
            raise ValueError(f"dlib chips must be {CHIP_SIZE}x{CHIP_SIZE} RGB, got {batch.shape[1:]}")
        runs = [
            self._session.run(None, {"chips": batch[i : i + MAX_BATCH]})[0]
            for i in range(0, len(batch), MAX_BATCH)
        ]
        return np.concatenate(runs).astype(np.float32)

    def embed_chips(self, chips: list[np.ndarray], flip: bool | np.ndarray = True) -> np.ndarray:
        """L2-normalised ``descriptor(chip) + descriptor(mirrored chip)`` for the chips ``flip``
        selects (True: all, or a boolean mask), ``descriptor(chip)`` for the others; one run."""
        mirror = np.broadcast_to(np.asarray(flip, bool), (len(chips),))
        out = self.descriptors([*chips, *(np.asarray(chips[i])[:, ::-1] for i in np.flatnonzero(mirror))])
        single = out[: len(chips)].copy()
        single[mirror] += out[len(chips) :]
        return _l2(single)


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


@functools.cache
def dlib_resnet() -> DlibResNet:
    """The converted network, loaded once per process (about 0.2 CPU-s)."""
    return DlibResNet()


register_session_cache(dlib_resnet.cache_clear)
