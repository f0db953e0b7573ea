"""Does SFace in int8 (onnxruntime static quantisation) keep its vectors and cut its cost? (issue 17 item 2)

    PYTHONPATH=src .venv/bin/python benchmarks/sface_int8.py ../shared/data/faces --json /tmp/sface-int8.json

Crops: the aligned 112 px crops the default engine hands SFace for every ~1 % of a labelled folder's photos
(the mirror images of tiny faces included). A third of them calibrate the quantiser, the other two thirds are
scored: cosine of each crop's normalised int8 vector with its fp32 one, and CPU ms a crop on one thread (best
of three passes, batches of 8, `time.process_time`: the CPU seconds, so another process's load changes it
less than it changes the wall clock). Variants: every node quantised, in QDQ and in QOperator form; only the
28 main convolutions (not the 1x1 depthwise ones that stand for the PRelus, ``sface_onnx.with_fast_prelu``);
those without the first and the last. Results in docs/face-speed.md.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process
from PIL import Image

from imint.faces import sface_onnx
from imint.faces.engine import get_engine
from imint.faces.onnx_sessions import built_model


def engine_crops(folder: Path, n_photos: int) -> np.ndarray:
    """The aligned crops the default engine gives SFace for ``n_photos`` photos spread over ``folder``."""
    files = sorted(folder.rglob("*.jpg"))
    files = files[:: max(1, len(files) // n_photos)][:n_photos]
    crops: list[np.ndarray] = []
    features = sface_onnx.SFaceNetwork.features

    def recording(self, batch):  # noqa: ANN001, ANN202
        crops.extend(np.asarray(c) for c in batch)
        return features(self, batch)

    sface_onnx.SFaceNetwork.features = recording
    try:
        engine = get_engine()
        for path in files:
            engine.analyze(np.asarray(Image.open(path).convert("RGB")))
    finally:
        sface_onnx.SFaceNetwork.features = features
    return np.stack(crops)


def _blob(crops: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(crops.astype(np.float32).transpose(0, 3, 1, 2))


def _vectors(session: ort.InferenceSession, crops: np.ndarray) -> np.ndarray:
    name = session.get_inputs()[0].name
    runs = [session.run(None, {name: _blob(crops[i : i + 8])})[0] for i in range(0, len(crops), 8)]
    out = np.concatenate(runs).reshape(len(crops), -1)
    return out / np.linalg.norm(out, axis=1, keepdims=True)


def _cpu_ms(session: ort.InferenceSession, crops: np.ndarray) -> float:
    best = float("inf")
    for _ in range(3):
        t = time.process_time()
        _vectors(session, crops)
        best = min(best, time.process_time() - t)
    return best / len(crops) * 1000


class _Calibration(CalibrationDataReader):
    def __init__(self, name: str, crops: np.ndarray) -> None:
        self._feeds = iter([{name: _blob(crops[i : i + 1])} for i in range(len(crops))])

    def get_next(self) -> dict | None:
        return next(self._feeds, None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("folder", type=Path, help="a labelled face folder (../shared/data/faces)")
    parser.add_argument("--photos", type=int, default=90)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()

    crops = engine_crops(args.folder, args.photos)
    calibration, scored = crops[::3], np.concatenate([crops[1::3], crops[2::3]])
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    work = Path(tempfile.mkdtemp(prefix="sface-int8-"))
    (work / "fp32.onnx").write_bytes(built_model(sface_onnx.SFACE_MODEL, sface_onnx.build_sface))
    quant_pre_process(str(work / "fp32.onnx"), str(work / "pre.onnx"), skip_symbolic_shape=True)
    fp32 = ort.InferenceSession(str(work / "fp32.onnx"), options, providers=["CPUExecutionProvider"])
    reference = _vectors(fp32, scored)
    graph = onnx.load(str(work / "pre.onnx"))
    main_convs = [
        n.name
        for n in graph.graph.node
        if n.op_type in ("Conv", "Gemm", "MatMul") and not n.output[0].endswith(("_negative_part", "_rest"))
    ]
    variants = {
        "all nodes, QDQ": dict(quant_format=QuantFormat.QDQ),
        "all nodes, QOperator": dict(quant_format=QuantFormat.QOperator),
        "main convolutions, QDQ": dict(quant_format=QuantFormat.QDQ, nodes_to_quantize=main_convs),
        "main convolutions but first and last, QDQ": dict(
            quant_format=QuantFormat.QDQ, nodes_to_quantize=main_convs[1:-1]
        ),
    }
    rows = []
    for label, extra in variants.items():
        out = work / "int8.onnx"
        quantize_static(
            str(work / "pre.onnx"),
            str(out),
            _Calibration(fp32.get_inputs()[0].name, calibration),
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            **extra,
        )
        int8 = ort.InferenceSession(str(out), options, providers=["CPUExecutionProvider"])
        cosine = (reference * _vectors(int8, scored)).sum(axis=1)
        row = {
            "variant": label,
            "crops_scored": len(scored),
            "cosine_mean": round(float(cosine.mean()), 4),
            "cosine_p1": round(float(np.percentile(cosine, 1)), 4),
            "cosine_min": round(float(cosine.min()), 4),
            "fp32_cpu_ms": round(_cpu_ms(fp32, scored), 1),
            "int8_cpu_ms": round(_cpu_ms(int8, scored), 1),
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    if args.json:
        args.json.write_text(json.dumps({"crops": len(crops), "variants": rows}, indent=2))


if __name__ == "__main__":
    main()
