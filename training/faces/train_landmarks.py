"""Train the tiny-face landmark refiner and export it to src/imint/faces/landmark_refiner.onnx.

    .venv/bin/pip install -e '.[train]'
    .venv/bin/python training/faces/train_landmarks.py .cache/landmarks/data.npz   # ~15 min on 2 cores

Input: canvases from build_landmark_data.py (the degraded face seen through the detector's
landmarks, or through jittered ones) and, as targets, the clean photo's landmarks in canvas
coordinates. The network predicts each landmark's offset from the canvas template, in
canvas sizes. A tenth of the photos is held out for validation; the weights of the best
validation epoch are exported. Augmentation: mirror (swapping left and right points),
brightness and contrast.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
from imint.faces.landmarks import CANVAS_SIZE, CANVAS_TEMPLATE, LANDMARK_REFINER_FILE, canvas_input  # noqa: E402

MIRROR = [1, 0, 2, 4, 3]  # right eye <-> left eye, mouth corners swap


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class RefinerNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv(3, 16, 2),
            conv(16, 32),
            conv(32, 32, 2),
            conv(32, 64),
            conv(64, 64, 2),
            conv(64, 128),
            conv(128, 128, 2),
        )  # 64 -> 4 x 4
        self.head = nn.Sequential(
            nn.Flatten(), nn.Linear(128 * 16, 128), nn.ReLU(inplace=True), nn.Linear(128, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def offsets(points: np.ndarray) -> np.ndarray:
    return ((points - CANVAS_TEMPLATE) / CANVAS_SIZE).reshape(len(points), 10).astype(np.float32)


def augment(
    canvas: np.ndarray, target: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    canvas = canvas.copy()
    target = target.copy()
    flip = rng.random(len(canvas)) < 0.5
    canvas[flip] = canvas[flip, :, ::-1]
    mirrored = target[flip][:, MIRROR]
    mirrored[..., 0] = CANVAS_SIZE - 1 - mirrored[..., 0]
    target[flip] = mirrored
    x = canvas_input(canvas)
    gain = rng.uniform(0.7, 1.3, (len(x), 1, 1, 1)).astype(np.float32)
    bias = rng.uniform(-0.3, 0.3, (len(x), 1, 1, 1)).astype(np.float32)
    return x * gain + bias, target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("data", type=Path)
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=LANDMARK_REFINER_FILE)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    d = np.load(args.data)
    canvas, target, start, photo, eye = d["canvas"], d["target"], d["start"], d["photo"], d["eye_px"]
    photos = np.unique(photo)
    val_photos = rng.choice(photos, max(1, len(photos) // 10), replace=False)
    val = np.isin(photo, val_photos)
    tr = np.where(~val)[0]
    va = np.where(val)[0]
    # For the log: how many canvas pixels one eye distance spans.
    canvas_eye = float(np.linalg.norm(CANVAS_TEMPLATE[1] - CANVAS_TEMPLATE[0]))
    print(f"{len(tr)} training samples, {len(va)} validation samples ({len(val_photos)} photos)")
    net = RefinerNet()
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * (len(tr) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.15)

    def val_error() -> tuple[float, float]:
        net.eval()
        with torch.no_grad():
            pred = np.concatenate(
                [
                    net(torch.from_numpy(canvas_input(canvas[va[i : i + 512]]))).numpy()
                    for i in range(0, len(va), 512)
                ]
            )
        net.train()
        pts = CANVAS_TEMPLATE + pred.reshape(-1, 5, 2) * CANVAS_SIZE
        # Error in eye distances of the true landmarks in the canvas.
        true_eye = np.linalg.norm(target[va, 1] - target[va, 0], axis=1)
        err = np.linalg.norm(pts - target[va], axis=2) / true_eye[:, None]
        base = np.linalg.norm(start[va] - target[va], axis=2) / true_eye[:, None]
        return float(err.mean()), float(base.mean())

    err0, base = val_error()
    print(
        f"validation error (eye distances): start {base:.4f}, untrained {err0:.4f}; canvas eye {canvas_eye:.1f} px"
    )
    best, best_state = np.inf, None
    t0 = time.time()
    for epoch in range(args.epochs):
        order = rng.permutation(tr)
        losses = []
        for i in range(0, len(order) - args.batch + 1, args.batch):
            b = order[i : i + args.batch]
            x, t = augment(canvas[b], target[b], rng)
            pred = net(torch.from_numpy(x))
            loss = nn.functional.smooth_l1_loss(pred, torch.from_numpy(offsets(t)), beta=0.01)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        err, _ = val_error()
        if err < best:
            best, best_state = err, {k: v.clone() for k, v in net.state_dict().items()}
        print(
            f"epoch {epoch + 1}/{args.epochs}: loss {np.mean(losses):.5f}, validation error {err:.4f} "
            f"(start {base:.4f}), {time.time() - t0:.0f} s",
            flush=True,
        )
    net.load_state_dict(best_state)
    net.eval()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(
        net,
        torch.zeros(1, 3, CANVAS_SIZE, CANVAS_SIZE),
        str(args.out),
        input_names=["canvas"],
        output_names=["offsets"],
        dynamic_axes={"canvas": {0: "n"}, "offsets": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    print(
        f"best validation error {best:.4f} eye distances (start {base:.4f}); wrote {args.out} "
        f"({args.out.stat().st_size / 1024:.0f} KB), eye px median {np.median(eye):.1f}"
    )


if __name__ == "__main__":
    main()
