"""Convert dlib's face descriptor network (``dlib_face_recognition_resnet_model_v1.dat``) to ONNX.

    PYTHONPATH=src nice -n 10 .venv/bin/python training/faces/convert_dlib_resnet.py \
        [--dat PATH] [--out src/imint/faces/dlib_resnet.onnx] [--no-check]

The weights come from the ``face-recognition-models`` wheel (CC0). dlib stores a network as
nested C++ objects, so the file is read by walking the network's type from the outside in:

    loss_metric<fc_no_bias<128, avg_pool_everything<
        ares_down<256, ares<256, ares<256, ares_down<256,     (2x2 output)
        ares<128, ares<128, ares_down<128,                   (4x4)
        ares<64, ares<64, ares<64, ares_down<64,             (8x8, 17x17)
        ares<32, ares<32, ares<32,                           (35x35)
        max_pool<3,3,2,2, relu<affine<con<32,7,7,2,2, input_rgb_image_sized<150>>>>>

    ares<N, x>      = relu(x + block(x))                         (add_prev1 over tag1)
    ares_down<N, x> = relu(block_s2(x) + zero_pad(avg_pool_2x2(x)))  (add_prev2, skip1)
    block           = affine(con3x3(relu(affine(con3x3_stride(x)))))

Each ``add_layer`` writes a version number, then its whole sub-network, then its own layer
(a version string such as ``con_4``, then parameters) and some bookkeeping tensors; tag and skip
layers write a version and their sub-network. So the file holds the outer layers' version
numbers first, then the input layer, then the layers' contents from the input upwards. Numbers
use dlib's variable-length integer format, floats are (mantissa, exponent) integer pairs and
tensors are four sizes followed by raw little-endian float32 values.

The ONNX graph takes uint8 RGB chips (N, 150, 150, 3), exactly what ``dlib.get_face_chip``
returns, does dlib's input scaling ``(pixel - channel mean) / 256`` and returns the raw 128-d
descriptor (not normalised, as dlib returns it). Every ``affine`` follows a convolution and is
folded into it. dlib's ``add_prev`` adds tensors of different shapes by treating the missing
elements as zero (more channels after a down-sampling block, and a 3x3 block output next to a
4x4 pooled input at 8x8 -> 4x4), which becomes a zero ``Pad`` at the end of the smaller one.

With the check on (default), the script runs dlib and onnxruntime on chips from public-domain
photos of installed packages (and their mirror images) and refuses to write a model whose
normalised descriptors differ from dlib's by 1e-4 or more.
"""

from __future__ import annotations

import argparse
import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

OUT_FILE = Path(__file__).resolve().parents[2] / "src" / "imint" / "faces" / "dlib_resnet.onnx"
CHIP_SIZE = 150
TOLERANCE = 1e-4


class DlibFormatError(ValueError):
    """The file does not hold the network this script expects."""


class Reader:
    """dlib's serialisation primitives (dlib/serialize.h, dlib/cuda/tensor.h) over a byte stream."""

    def __init__(self, data: bytes) -> None:
        self._s = io.BytesIO(data)
        self._size = len(data)

    @property
    def offset(self) -> int:
        return self._s.tell()

    def _bytes(self, n: int) -> bytes:
        b = self._s.read(n)
        if len(b) != n:
            raise DlibFormatError(f"file ends at byte {self.offset}, {n} more bytes expected")
        return b

    def integer(self) -> int:
        # One control byte: bit 7 = negative, low 4 bits = how many little-endian bytes follow.
        control = self._bytes(1)[0]
        size = control & 0x0F
        if size == 0 or size > 8:
            raise DlibFormatError(f"bad integer control byte {control:#x} at byte {self.offset - 1}")
        value = int.from_bytes(self._bytes(size), "little")
        return -value if control & 0x80 else value

    def real(self) -> float:
        # float_details: an int64 mantissa and an int16 exponent (value = mantissa * 2**exponent).
        mantissa, exponent = self.integer(), self.integer()
        if exponent >= 32000:
            raise DlibFormatError(f"non-finite number in the file at byte {self.offset}")
        return float(np.ldexp(float(mantissa), exponent))

    def boolean(self) -> bool:
        ch = self._bytes(1)
        if ch not in (b"0", b"1"):
            raise DlibFormatError(f"bad bool {ch!r} at byte {self.offset - 1}")
        return ch == b"1"

    def string(self) -> str:
        return self._bytes(self.integer()).decode("latin-1")

    def expect(self, version: str | set[str]) -> str:
        allowed = {version} if isinstance(version, str) else version
        found = self.string()
        if found not in allowed:
            raise DlibFormatError(f"expected {sorted(allowed)} at byte {self.offset}, found {found!r}")
        return found

    def version(self, allowed: set[int]) -> int:
        v = self.integer()
        if v not in allowed:
            raise DlibFormatError(f"unexpected version {v} (allowed {sorted(allowed)}) at byte {self.offset}")
        return v

    def tensor(self) -> np.ndarray:
        self.version({2})
        shape = tuple(self.integer() for _ in range(4))
        count = int(np.prod(shape))
        return np.frombuffer(self._bytes(4 * count), "<f4").reshape(shape).astype(np.float32)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        self.version({1})
        return tuple(self.integer() for _ in range(4))  # type: ignore[return-value]

    def at_end(self) -> bool:
        return self.offset == self._size


# ---- the network's layers, as dlib's template nests them (outermost first) -------------------


@dataclass
class Layer:
    kind: str  # con, affine, relu, max_pool, avg_pool, avg_pool_everything, fc, add_prev, tag, skip
    arg: int = 0  # filters / outputs for con and fc, the tag id for tag / skip / add_prev
    size: int = 0  # filter or window size
    stride: int = 1
    values: dict[str, np.ndarray] = field(default_factory=dict)
    padding: tuple[int, int] = (0, 0)


def _block(n: int, stride: int) -> list[Layer]:
    return [
        Layer("affine"),
        Layer("con", n, 3, 1),
        Layer("relu"),
        Layer("affine"),
        Layer("con", n, 3, stride),
    ]


def _ares(n: int) -> list[Layer]:
    return [Layer("relu"), Layer("add_prev", 1), *_block(n, 1), Layer("tag", 1)]


def _ares_down(n: int) -> list[Layer]:
    return [
        Layer("relu"),
        Layer("add_prev", 2),
        Layer("avg_pool", 0, 2, 2),
        Layer("skip", 1),
        Layer("tag", 2),
        *_block(n, 2),
        Layer("tag", 1),
    ]


def network_layers() -> list[Layer]:
    """The layers of dlib's ``anet_type`` (dnn_face_recognition_ex.cpp), outermost first."""
    layers = [Layer("fc", 128), Layer("avg_pool_everything")]
    layers += _ares_down(256)
    layers += _ares(256) + _ares(256) + _ares_down(256)
    layers += _ares(128) + _ares(128) + _ares_down(128)
    layers += _ares(64) + _ares(64) + _ares(64) + _ares_down(64)
    layers += _ares(32) + _ares(32) + _ares(32)
    layers += [Layer("max_pool", 0, 3, 2), Layer("relu"), Layer("affine"), Layer("con", 32, 7, 2)]
    return layers


@dataclass
class DlibNet:
    layers: list[Layer]  # outermost first; parameters filled in
    channel_means: tuple[float, float, float]  # avg_red, avg_green, avg_blue of the input layer


def _read_con(r: Reader, layer: Layer) -> None:
    version = r.expect({"con_4", "con_5", "con_6"})
    params = r.tensor().reshape(-1)
    filters = r.integer()
    nr, nc, stride_y, stride_x = r.integer(), r.integer(), r.integer(), r.integer()
    pad_y, pad_x = r.integer(), r.integer()
    f_shape = r.alias_tensor()
    b_shape = r.alias_tensor()
    for _ in range(4):  # learning-rate and weight-decay multipliers
        r.real()
    use_bias = r.boolean() if version in ("con_5", "con_6") else True
    if version == "con_6" and r.boolean():
        raise DlibFormatError("con_ with a fused relu is not expected in this network")
    if (filters, nr, nc, stride_y, stride_x) != (
        layer.arg,
        layer.size,
        layer.size,
        layer.stride,
        layer.stride,
    ):
        raise DlibFormatError(
            f"con_ at byte {r.offset}: found {filters} filters {nr}x{nc} stride {stride_y}x{stride_x}, "
            f"expected {layer.arg} filters {layer.size}x{layer.size} stride {layer.stride}"
        )
    n_weights = int(np.prod(f_shape))
    if f_shape[0] != filters or params.size != n_weights + (filters if use_bias else 0):
        raise DlibFormatError(f"con_ at byte {r.offset}: {params.size} parameters do not fit {f_shape}")
    layer.values["W"] = params[:n_weights].reshape(f_shape)  # (out, in, rows, cols), like ONNX
    layer.values["B"] = params[n_weights:] if use_bias else np.zeros(filters, np.float32)
    if use_bias and int(np.prod(b_shape)) != filters:
        raise DlibFormatError(f"con_ at byte {r.offset}: bias shape {b_shape}")
    layer.padding = (pad_y, pad_x)


def _read_affine(r: Reader, layer: Layer) -> None:
    version = r.expect({"affine_", "affine_2", "bn_con2"})
    if version == "bn_con2":  # a batch-norm layer, turned into an affine one as dlib does on loading
        params = r.tensor().reshape(-1)
        g_shape, _ = r.alias_tensor(), r.alias_tensor()
        r.tensor(), r.tensor()  # batch means and inverse deviations (training only)
        running_means, running_vars = r.tensor().reshape(-1), r.tensor().reshape(-1)
        r.integer(), r.integer()  # num_updates, running_stats_window_size
        for _ in range(4):
            r.real()
        eps = r.real()
        k = int(np.prod(g_shape))
        gamma = params[:k] / np.sqrt(running_vars + eps)
        beta = params[k : 2 * k] - gamma * running_means
    else:
        params = r.tensor().reshape(-1)
        g_shape, b_shape = r.alias_tensor(), r.alias_tensor()
        mode = r.integer()
        if version == "affine_2" and r.boolean():
            raise DlibFormatError(f"disabled affine_ layer at byte {r.offset}")
        if mode != 0:
            raise DlibFormatError(f"affine_ at byte {r.offset} is not in CONV_MODE")
        k = int(np.prod(g_shape))
        if g_shape != b_shape or params.size != 2 * k:
            raise DlibFormatError(f"affine_ at byte {r.offset}: {params.size} parameters, gamma {g_shape}")
        gamma, beta = params[:k], params[k:]
    layer.values["gamma"] = gamma.astype(np.float32)
    layer.values["beta"] = beta.astype(np.float32)


def _read_pool(r: Reader, layer: Layer, name: str) -> None:
    r.expect(f"{name}2")
    nr, nc, stride_y, stride_x = r.integer(), r.integer(), r.integer(), r.integer()
    pad_y, pad_x = r.integer(), r.integer()
    expected = (layer.size, layer.size, layer.stride, layer.stride)
    if (nr, nc, stride_y, stride_x) != expected or (pad_y, pad_x) != (0, 0):
        raise DlibFormatError(
            f"{name} at byte {r.offset}: window {nr}x{nc} stride {stride_y}x{stride_x} "
            f"padding {pad_y}x{pad_x}, expected {expected} without padding"
        )


def _read_fc(r: Reader, layer: Layer) -> None:
    version = r.expect({"fc_2", "fc_3"})
    outputs, inputs = r.integer(), r.integer()
    params = r.tensor().reshape(-1)
    w_shape, _ = r.alias_tensor(), r.alias_tensor()
    bias_mode = r.integer()
    for _ in range(4):
        r.real()
    if version == "fc_3":
        r.boolean()  # use_bias; fc_no_bias has none either way
    if bias_mode != 1 or outputs != layer.arg or params.size != inputs * outputs:
        raise DlibFormatError(f"fc_ at byte {r.offset}: {inputs}x{outputs}, bias mode {bias_mode}")
    layer.values["W"] = params.reshape(w_shape[0], w_shape[1])  # (inputs, outputs): y = x @ W


def _read_details(r: Reader, layer: Layer) -> None:
    if layer.kind == "con":
        _read_con(r, layer)
    elif layer.kind == "affine":
        _read_affine(r, layer)
    elif layer.kind == "relu":
        version = r.expect({"relu_", "relu_2"})
        if version == "relu_2" and r.boolean():
            raise DlibFormatError(f"disabled relu_ at byte {r.offset}")
    elif layer.kind in ("max_pool", "avg_pool"):
        _read_pool(r, layer, f"{layer.kind}_")
    elif layer.kind == "avg_pool_everything":
        _read_pool(r, Layer("avg_pool", 0, 0, 1), "avg_pool_")
    elif layer.kind == "fc":
        _read_fc(r, layer)
    elif layer.kind == "add_prev":
        r.expect("add_prev_")
    else:
        raise AssertionError(layer.kind)


def _read_layer_state(r: Reader, version: int) -> None:
    # add_layer's bookkeeping after its layer: three bools and the cached tensors (empty on disk
    # for a cleaned network, but read whatever is there).
    for _ in range(3):
        r.boolean()
    r.tensor()  # x_grad
    r.tensor()  # cached_output
    if version >= 2:
        r.tensor()  # params_grad


def read_dlib_net(data: bytes) -> DlibNet:
    """Parse the .dat file into the layer list of ``network_layers`` with their weights."""
    r = Reader(data)
    r.version({1})  # add_loss_layer
    version = r.expect({"loss_metric_", "loss_metric_2"})
    if version == "loss_metric_2":
        r.real(), r.real()  # margin, distance threshold (training only)
    layers = network_layers()
    add_versions: list[int | None] = []
    for layer in layers[:-1]:  # every layer above the one that holds the input layer
        if layer.kind in ("tag", "skip"):
            r.version({1})
            add_versions.append(None)
        else:
            add_versions.append(r.version({1, 2}))
    bottom_version = r.version({2, 3})  # the add_layer specialisation over the input layer
    r.expect("input_rgb_image_sized")
    means = (r.real(), r.real(), r.real())
    if (r.integer(), r.integer()) != (CHIP_SIZE, CHIP_SIZE):
        raise DlibFormatError(f"input layer is not {CHIP_SIZE}x{CHIP_SIZE}")
    _read_details(r, layers[-1])
    for _ in range(3):
        r.boolean()
    r.tensor(), r.tensor(), r.tensor()  # x_grad, cached_output, grad_final
    if bottom_version >= 3:
        r.integer()  # sample expansion factor
    for layer, add_version in zip(reversed(layers[:-1]), reversed(add_versions), strict=True):
        if add_version is None:
            continue
        _read_details(r, layer)
        _read_layer_state(r, add_version)
    if not r.at_end():
        raise DlibFormatError(f"{len(data) - r.offset} bytes left after the network")
    return DlibNet(layers=layers, channel_means=means)


# ---- the ONNX graph ------------------------------------------------------------------------


class GraphBuilder:
    def __init__(self) -> None:
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def name(self, prefix: str) -> str:
        self._count += 1
        return f"{prefix}_{self._count}"

    def const(self, value: np.ndarray, prefix: str) -> str:
        from onnx import numpy_helper

        name = self.name(prefix)
        self.initializers.append(numpy_helper.from_array(np.asarray(value), name=name))
        return name

    def node(self, op: str, inputs: list[str], **attrs: object) -> str:
        from onnx import helper

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out


@dataclass
class Value:
    name: str
    channels: int
    side: int  # square feature maps throughout


def _conv_affine(g: GraphBuilder, x: Value, con: Layer, affine: Layer) -> Value:
    # affine(conv(x)) = conv with filters * gamma and bias * gamma + beta.
    gamma, beta = affine.values["gamma"], affine.values["beta"]
    w = con.values["W"] * gamma[:, None, None, None]
    b = con.values["B"] * gamma + beta
    pad_y, pad_x = con.padding
    out = g.node(
        "Conv",
        [x.name, g.const(w.astype(np.float32), "W"), g.const(b.astype(np.float32), "B")],
        kernel_shape=[con.size, con.size],
        strides=[con.stride, con.stride],
        pads=[pad_y, pad_x, pad_y, pad_x],
    )
    side = 1 + (x.side + 2 * pad_y - con.size) // con.stride
    return Value(out, con.arg, side)


def _zero_pad_to(g: GraphBuilder, x: Value, channels: int, side: int) -> str:
    if (x.channels, x.side) == (channels, side):
        return x.name
    pads = np.array([0, 0, 0, 0, 0, channels - x.channels, side - x.side, side - x.side], np.int64)
    return g.node("Pad", [x.name, g.const(pads, "pads")], mode="constant")


def build_onnx(net: DlibNet) -> bytes:
    """The network as a serialised ONNX model: uint8 (N, 150, 150, 3) RGB -> float (N, 128)."""
    import onnx
    from onnx import TensorProto, helper

    g = GraphBuilder()
    rgb = g.node("Cast", ["chips"], to=TensorProto.FLOAT)
    means = np.array(net.channel_means, np.float32).reshape(1, 1, 1, 3)
    centred = g.node("Sub", [rgb, g.const(means, "channel_means")])
    # dlib divides by 256.0; multiplying by 2**-8 is the same operation in floating point.
    scaled = g.node("Mul", [centred, g.const(np.array(1 / 256, np.float32), "scale")])
    x = Value(g.node("Transpose", [scaled], perm=[0, 3, 1, 2]), 3, CHIP_SIZE)

    tags: dict[int, Value] = {}
    pending: Layer | None = None  # a con waiting for the affine that follows it
    for layer in reversed(net.layers):  # from the input upwards
        if layer.kind == "con":
            pending = layer
        elif layer.kind == "affine":
            if pending is None:
                raise DlibFormatError("affine layer without a convolution before it")
            x, pending = _conv_affine(g, x, pending, layer), None
        elif layer.kind == "relu":
            x = Value(g.node("Relu", [x.name]), x.channels, x.side)
        elif layer.kind == "max_pool":
            out = g.node("MaxPool", [x.name], kernel_shape=[3, 3], strides=[2, 2])
            x = Value(out, x.channels, 1 + (x.side - 3) // 2)
        elif layer.kind == "avg_pool":
            out = g.node("AveragePool", [x.name], kernel_shape=[2, 2], strides=[2, 2])
            x = Value(out, x.channels, 1 + (x.side - 2) // 2)
        elif layer.kind == "tag":
            tags[layer.arg] = x
        elif layer.kind == "skip":
            x = tags[layer.arg]
        elif layer.kind == "add_prev":
            other = tags[layer.arg]
            channels, side = max(x.channels, other.channels), max(x.side, other.side)
            a, b = _zero_pad_to(g, x, channels, side), _zero_pad_to(g, other, channels, side)
            x = Value(g.node("Add", [a, b]), channels, side)
        elif layer.kind == "avg_pool_everything":
            x = Value(g.node("GlobalAveragePool", [x.name]), x.channels, 1)
        elif layer.kind == "fc":
            flat = g.node("Flatten", [x.name], axis=1)
            weights = layer.values["W"]
            if weights.shape[0] != x.channels:
                raise DlibFormatError(f"fc_ takes {weights.shape[0]} inputs, the network gives {x.channels}")
            x = Value(g.node("MatMul", [flat, g.const(weights, "fc_W")]), weights.shape[1], 1)
    g.nodes.append(helper.make_node("Identity", [x.name], ["descriptor"], name="descriptor"))
    graph = helper.make_graph(
        g.nodes,
        "dlib_face_recognition_resnet_model_v1",
        [helper.make_tensor_value_info("chips", TensorProto.UINT8, [None, CHIP_SIZE, CHIP_SIZE, 3])],
        [helper.make_tensor_value_info("descriptor", TensorProto.FLOAT, [None, 128])],
        initializer=g.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    model.producer_name = "imint training/faces/convert_dlib_resnet.py"
    model.doc_string = (
        "dlib_face_recognition_resnet_model_v1 (Davis King, CC0, from the face-recognition-models wheel), "
        "converted without retraining. Input: uint8 RGB 150x150 chips as dlib.get_face_chip makes them "
        "(padding 0.25); output: dlib's raw 128-d descriptor."
    )
    onnx.checker.check_model(model)
    return model.SerializeToString()


# ---- the check against dlib ------------------------------------------------------------------


def sample_photos() -> dict[str, np.ndarray]:
    """Public-domain RGB photos with faces that ship inside installed packages."""
    import matplotlib.cbook as cbook
    from PIL import Image
    from skimage import data

    with Image.open(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)) as im:
        hopper = np.asarray(im.convert("RGB"))
    astronaut = data.astronaut()
    camera = np.repeat(data.camera()[:, :, None], 3, axis=2)
    # A shrunk copy goes through DlibEmbedder's small-face path (crop upsampled before dlib).
    small = np.asarray(Image.fromarray(astronaut).resize((128, 128), Image.Resampling.BILINEAR))
    return {"astronaut": astronaut, "grace_hopper": hopper, "camera": camera, "astronaut_small": small}


def sample_chips() -> list[np.ndarray]:
    """dlib face chips (as imint cuts them) of the sample photos."""
    from imint.faces.models import DlibEmbedder, get_detector

    detector, dlib_embedder = get_detector("yunet"), DlibEmbedder()
    chips: list[np.ndarray] = []
    for image in sample_photos().values():
        chips += dlib_embedder.chips(image, detector.detect(image))
    return chips


def max_difference(model: bytes, chips: list[np.ndarray]) -> float:
    """Largest |dlib - onnx| over the normalised descriptors of ``chips`` and their mirror images."""
    import dlib
    import face_recognition_models as frm
    import onnxruntime as ort

    net = dlib.face_recognition_model_v1(frm.face_recognition_model_location())
    batch = np.stack([c for chip in chips for c in (chip, chip[:, ::-1])])
    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    ours = session.run(None, {"chips": batch})[0]
    theirs = np.array([net.compute_face_descriptor(np.ascontiguousarray(c)) for c in batch], np.float32)

    def unit(v: np.ndarray) -> np.ndarray:
        return v / np.linalg.norm(v, axis=1, keepdims=True)

    return float(np.abs(unit(ours) - unit(theirs)).max())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--dat", type=Path, help="dlib's .dat file (default: the face-recognition-models wheel's)"
    )
    parser.add_argument("--out", type=Path, default=OUT_FILE)
    parser.add_argument("--no-check", action="store_true", help="skip the comparison with dlib")
    args = parser.parse_args(argv)
    dat = args.dat
    if dat is None:
        import face_recognition_models as frm

        dat = Path(frm.face_recognition_model_location())
    net = read_dlib_net(dat.read_bytes())
    model = build_onnx(net)
    n_params = sum(v.size for layer in net.layers for v in layer.values.values())
    print(f"read {dat} ({n_params} parameters, channel means {net.channel_means})")
    if not args.no_check:
        chips = sample_chips()
        if len(chips) < 2:
            print("check needs at least two faces from the sample photos", file=sys.stderr)
            return 1
        diff = max_difference(model, chips)
        print(f"check: {2 * len(chips)} chips (with mirror images), max |dlib - onnx| = {diff:.2e}")
        if not diff < TOLERANCE:
            print(
                f"conversion differs from dlib by {diff:.2e} (>= {TOLERANCE}); nothing written",
                file=sys.stderr,
            )
            return 1
    args.out.write_bytes(model)
    print(f"wrote {args.out} ({len(model) / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
