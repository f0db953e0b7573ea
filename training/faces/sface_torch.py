"""SFace in torch, built from the same fp32 graph imint runs at inference (imint.faces.sface_net).

Every weight of the compute graph becomes an ``nn.Parameter`` under its ONNX name, so
``state_dict()`` entries map straight back onto ``build_sface_onnx(overrides)``.
BatchNormalization always uses its stored statistics (batches here are small and all
of one kind; re-estimating them would drift the embedding space away from the teacher's).
"""

from __future__ import annotations

import onnx
import torch
import torch.nn.functional as F
from torch import nn

from imint.faces.sface_net import load_sface_graph


class SFaceTorch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        graph = load_sface_graph()
        self.input_name, self.output_name = graph.input_name, graph.output_name
        self.nodes = []
        self.weights = nn.ParameterDict()
        self._key = {}
        for name, value in graph.weights.items():
            key = name.replace(".", "_")
            self._key[name] = key
            self.weights[key] = nn.Parameter(torch.from_numpy(value.copy()))
        for node in graph.nodes:
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            self.nodes.append((node.op_type, list(node.input), list(node.output), attrs))

    def weight(self, name: str) -> torch.Tensor:
        return self.weights[self._key[name]]

    def onnx_state(self) -> dict[str, torch.Tensor]:
        return {name: self.weights[key].detach() for name, key in self._key.items()}

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """``rgb``: N x 3 x 112 x 112 float in 0..255 (RGB order, as the ONNX input). Raw 128-d output."""
        env: dict[str, torch.Tensor] = {self.input_name: rgb}

        def get(name: str) -> torch.Tensor:
            return env[name] if name in env else self.weight(name)

        for op, inputs, outputs, attrs in self.nodes:
            if op == "Sub":
                y = get(inputs[0]) - get(inputs[1])
            elif op == "Mul":
                y = get(inputs[0]) * get(inputs[1])
            elif op == "Conv":
                pads = attrs.get("pads", [0, 0, 0, 0])
                y = F.conv2d(
                    get(inputs[0]),
                    get(inputs[1]),
                    get(inputs[2]) if len(inputs) > 2 else None,
                    stride=attrs.get("strides", [1, 1]),
                    padding=(pads[0], pads[1]),
                    groups=attrs.get("group", 1),
                )
            elif op == "BatchNormalization":
                x, gamma, beta, mean, var = (get(n) for n in inputs[:5])
                y = F.batch_norm(x, mean.detach(), var.detach(), gamma, beta, False, 0.0, attrs["epsilon"])
            elif op == "PRelu":
                x, slope = get(inputs[0]), get(inputs[1])
                y = F.prelu(x, slope.reshape(-1))
            elif op == "Constant":
                y = torch.tensor(0.0)
            elif op == "Dropout":
                y = get(inputs[0])
            elif op == "Flatten":
                y = torch.flatten(get(inputs[0]), 1)
            elif op == "Gemm":
                y = F.linear(get(inputs[0]), get(inputs[1]), get(inputs[2]))
            else:
                raise NotImplementedError(op)
            env[outputs[0]] = y
        return env[self.output_name]
