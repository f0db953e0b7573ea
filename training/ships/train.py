"""Train the small SAR ship detector (CenterNet-style) that ``imint detect ships --detector cnn`` runs.

The network is deliberately tiny (about 0.8 M parameters) so that it trains from scratch on one CPU
core within about an hour and runs over a full Sentinel-1 scene in minutes with onnxruntime:

* backbone: plain 3x3 conv + BatchNorm + ReLU stages at strides 2, 4, 8, 16, 32;
* neck: a top-down feature pyramid merged back to stride 4;
* head (CenterNet, Zhou et al. 2019): a centre heat-map (1 class: ship), a sub-pixel centre offset
  and the log of the box width/height, all at stride 4.

Data: the SAR chips of ``../shared/data/ships`` (SSDD, HRSID, SAR-Ship-Dataset; research use only, see
MODEL_CARD.md). A validation split is held out by image (by scene for HRSID / SAR-Ship-Dataset chips,
so no scene is on both sides) and used for model selection and the score threshold.

The learning-rate schedule is a cosine over a *time* budget (``--minutes``), so the run ends on time
whatever the machine's load; checkpoints are written every epoch and ``--resume`` continues a run.

    OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python training/ships/train.py \
        --data ../shared/data/ships --out training/ships/runs/main --minutes 75
    .venv/bin/python training/ships/train.py --out training/ships/runs/main --export-only
    .venv/bin/python training/ships/train.py --out training/ships/runs/main --install src/imint/sites/models
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import math
import random
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from imint.records import box_iou

STRIDE = 4
CROP = 256
VAL_PERCENT = 15


# --------------------------------------------------------------------------------------------- data


VAL_EVERY = 5  # honest split: every 5th dev group (per source, by name) is the validation slice


def group_key(row: dict[str, str]) -> str:
    """Chips cut from one scene must stay on one side of the split."""
    return row["scene"] or row["image"]


def is_validation(row: dict[str, str]) -> bool:
    """v1's split (by image / scene hash); kept so that v1 can be reproduced with ``--split sha1``."""
    digest = hashlib.sha1(group_key(row).encode()).hexdigest()
    return int(digest[:8], 16) % 100 < VAL_PERCENT


def honest_roles(rows: list[dict[str, str]]) -> dict[str, str]:
    """image -> ``train`` | ``val`` | ``heldout`` on the honest split of ``imint eval ships``.

    The held-out part (``imint.sites.evaluate.honest_parts``) is never loaded for training. Inside the dev
    part the validation slice (checkpoint and threshold choice) is every ``VAL_EVERY``-th split group per
    source, by name, so it too keeps whole scenes / SSDD number blocks together.
    """
    from imint.sites.evaluate import honest_parts, source_key, split_group

    parts = honest_parts(rows)
    dev_groups: dict[str, set[str]] = {}
    for row in rows:
        if parts[row["image"]] == "dev":
            dev_groups.setdefault(source_key(row), set()).add(split_group(row))
    val = {
        g
        for names in dev_groups.values()
        for i, g in enumerate(sorted(names))
        if i % VAL_EVERY == VAL_EVERY - 1
    }
    roles = {}
    for row in rows:
        if parts[row["image"]] == "heldout":
            roles[row["image"]] = "heldout"
        else:
            roles[row["image"]] = "val" if split_group(row) in val else "train"
    return roles


def load_sar(root: Path, split: str = "honest") -> list[dict]:
    """SAR chips with boxes; ``val`` marks the validation slice. With the honest split the held-out part
    is not read at all, so no pixel of it can reach training, checkpoint or threshold choice."""
    boxes: dict[str, list[list[float]]] = {}
    with open(root / "annotations.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            boxes.setdefault(row["image"], []).append([float(row[k]) for k in ("x1", "y1", "x2", "y2")])
    with open(root / "images.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    roles = honest_roles(rows) if split == "honest" else {}
    items = []
    for row in rows:
        if row["modality"] != "SAR" or roles.get(row["image"]) == "heldout":
            continue
        image = cv2.imread(str(root / row["image"]), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise SystemExit(f"cannot read {row['image']}")
        items.append(
            {
                "name": row["image"],
                "image": image,
                "boxes": np.array(boxes.get(row["image"], []), np.float32).reshape(-1, 4),
                "subset": row["subset"],
                "val": roles[row["image"]] == "val" if roles else is_validation(row),
            }
        )
    return items


def hard_negative_points(item: dict, limit: int = 400) -> np.ndarray:
    """(x, y) of bright pixels away from every ship: quays, cranes, breakwaters, moored structures.

    Inshore chips have land and harbour works that are as bright as ships; crops centred on them teach
    the network what is *not* a ship. Bright = top 1 % of the chip's grey levels, and at least 16 px
    outside any ship box.
    """
    image = item["image"]
    free = np.ones(image.shape, np.uint8)
    for x1, y1, x2, y2 in item["boxes"].astype(int):
        free[max(y1 - 16, 0) : y2 + 16, max(x1 - 16, 0) : x2 + 16] = 0
    level = max(float(np.percentile(image, 99)), 60.0)
    ys, xs = np.nonzero((image >= level) & (free > 0))
    if not len(xs):
        return np.zeros((0, 2), np.int32)
    pick = np.random.default_rng(len(xs)).choice(len(xs), size=min(limit, len(xs)), replace=False)
    return np.stack([xs[pick], ys[pick]], 1).astype(np.int32)


# A ship patch: its pixels and the (left, top, right, bottom) margin of sea around the ship's box.
Patch = tuple[np.ndarray, tuple[int, int, int, int]]


def ship_patches(items: list[dict], margin: int = 3, max_side: int = 64) -> list[Patch]:
    """Real ship patches (box + a few px of their own sea) cut from the training chips, for copy-paste."""
    patches = []
    for item in items:
        h, w = item["image"].shape
        for bx1, by1, bx2, by2 in np.round(item["boxes"]).astype(int):
            if not (3 <= bx2 - bx1 <= max_side and 3 <= by2 - by1 <= max_side):
                continue
            x1, y1 = max(bx1 - margin, 0), max(by1 - margin, 0)
            x2, y2 = min(bx2 + margin, w), min(by2 + margin, h)
            patches.append((item["image"][y1:y2, x1:x2].copy(), (bx1 - x1, by1 - y1, x2 - bx2, y2 - by2)))
    return patches


def paste_ships(
    crop: np.ndarray, boxes: np.ndarray, patches: list[Patch], rng: random.Random, count: int
) -> tuple[np.ndarray, np.ndarray]:
    """Copy-paste: up to ``count`` real ship patches into the crop where no ship is, blended by maximum
    (a ship is brighter than the sea it sits on; on land the brighter of the two is kept, as in SAR)."""
    crop = crop.copy()
    out = [boxes]
    size = crop.shape[0]
    for _ in range(count):
        patch, (left, top, right, bottom) = patches[rng.randrange(len(patches))]
        if rng.random() < 0.5:
            patch, (left, top, right, bottom) = patch.T, (top, left, bottom, right)
        ph, pw = patch.shape
        if ph >= size or pw >= size:
            continue
        x0, y0 = rng.randrange(size - pw), rng.randrange(size - ph)
        area = np.array([[x0, y0, x0 + pw, y0 + ph]], np.float32)
        taken = np.concatenate(out)
        if len(taken) and (box_iou(area, taken) > 0).any():
            continue
        region = crop[y0 : y0 + ph, x0 : x0 + pw]
        np.maximum(region, patch, out=region)
        out.append(np.array([[x0 + left, y0 + top, x0 + pw - right, y0 + ph - bottom]], np.float32))
    return crop, np.concatenate(out).reshape(-1, 4)


def random_crop(
    item: dict, rng: random.Random, *, patches: list[Patch] | None = None, paste_p: float = 0.0
) -> tuple[np.ndarray, np.ndarray]:
    """A CROP x CROP training window (zero-padded when the chip is smaller) plus flips/rot90 and gain.

    Half of the time the window is centred on a ship; for inshore chips a quarter of the time on a hard
    negative (a bright non-ship point); with ``paste_p`` real ship patches are pasted into it.
    """
    image, boxes = item["image"], item["boxes"].copy()
    h, w = image.shape
    negatives = item.get("negatives")
    roll = rng.random()
    if len(boxes) and roll < 0.5:
        b = boxes[rng.randrange(len(boxes))]
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        x0 = int(cx - rng.uniform(0.15, 0.85) * CROP)
        y0 = int(cy - rng.uniform(0.15, 0.85) * CROP)
    elif negatives is not None and len(negatives) and roll < 0.75:
        nx, ny = negatives[rng.randrange(len(negatives))]
        x0 = int(nx - rng.uniform(0.2, 0.8) * CROP)
        y0 = int(ny - rng.uniform(0.2, 0.8) * CROP)
    else:
        x0 = rng.randint(min(0, w - CROP), max(0, w - CROP))
        y0 = rng.randint(min(0, h - CROP), max(0, h - CROP))
    x0 = min(max(x0, min(0, w - CROP)), max(0, w - CROP))
    y0 = min(max(y0, min(0, h - CROP)), max(0, h - CROP))
    crop = np.zeros((CROP, CROP), np.uint8)
    sx0, sy0 = max(x0, 0), max(y0, 0)
    sx1, sy1 = min(x0 + CROP, w), min(y0 + CROP, h)
    crop[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = image[sy0:sy1, sx0:sx1]
    boxes[:, [0, 2]] -= x0
    boxes[:, [1, 3]] -= y0
    # Keep ships whose centre is inside the window; clip their boxes to it.
    cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
    keep = (cx >= 0) & (cx < CROP) & (cy >= 0) & (cy < CROP)
    boxes = np.clip(boxes[keep], 0, CROP)
    if patches and rng.random() < paste_p:
        crop, boxes = paste_ships(crop, boxes, patches, rng, rng.randint(1, 3))
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
        boxes[:, [0, 2]] = CROP - boxes[:, [2, 0]]
    if rng.random() < 0.5:
        crop = crop[::-1, :]
        boxes[:, [1, 3]] = CROP - boxes[:, [3, 1]]
    if rng.random() < 0.5:  # transpose = rot90 + flip; ships point every way in SAR scenes
        crop = crop.T
        boxes = boxes[:, [1, 0, 3, 2]]
    out = crop.astype(np.float32) / 255.0
    gain = rng.uniform(0.7, 1.4)
    gamma = rng.uniform(0.8, 1.25)
    out = np.clip(out**gamma * gain, 0, 1)
    return np.ascontiguousarray(out), boxes


def make_targets(boxes: np.ndarray, size: int) -> tuple[np.ndarray, ...]:
    """CenterNet targets at stride 4: Gaussian heat-map, offset, log size and a mask of centres."""
    out = size // STRIDE
    heat = np.zeros((out, out), np.float32)
    reg = np.zeros((4, out, out), np.float32)  # dx, dy, log w, log h
    mask = np.zeros((out, out), np.float32)
    ys, xs = np.mgrid[0:out, 0:out].astype(np.float32)
    for x1, y1, x2, y2 in boxes:
        w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
        cx, cy = (x1 + x2) / 2 / STRIDE, (y1 + y2) / 2 / STRIDE
        ix, iy = min(int(cx), out - 1), min(int(cy), out - 1)
        sx, sy = max(0.54 * w / STRIDE / 3, 0.6), max(0.54 * h / STRIDE / 3, 0.6)
        g = np.exp(-(((xs - ix) ** 2) / (2 * sx * sx) + ((ys - iy) ** 2) / (2 * sy * sy)))
        np.maximum(heat, g, out=heat)
        reg[:, iy, ix] = (cx - ix, cy - iy, math.log(w / STRIDE), math.log(h / STRIDE))
        mask[iy, ix] = 1.0
    return heat, reg, mask


# -------------------------------------------------------------------------------------------- model


def conv(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class ShipNet(nn.Module):
    def __init__(self, widths: tuple[int, ...] = (24, 48, 64, 96, 128), neck: int = 48) -> None:
        super().__init__()
        w1, w2, w3, w4, w5 = widths
        self.stem = conv(1, w1, 2)  # stride 2
        self.s4 = nn.Sequential(conv(w1, w2, 2), conv(w2, w2), conv(w2, w2))
        self.s8 = nn.Sequential(conv(w2, w3, 2), conv(w3, w3), conv(w3, w3))
        self.s16 = nn.Sequential(conv(w3, w4, 2), conv(w4, w4), conv(w4, w4))
        self.s32 = nn.Sequential(conv(w4, w5, 2), conv(w5, w5))
        self.lat4, self.lat8 = nn.Conv2d(w2, neck, 1), nn.Conv2d(w3, neck, 1)
        self.lat16, self.lat32 = nn.Conv2d(w4, neck, 1), nn.Conv2d(w5, neck, 1)
        self.smooth = conv(neck, neck)
        self.heat = nn.Sequential(conv(neck, neck), nn.Conv2d(neck, 1, 1))
        self.reg = nn.Sequential(conv(neck, neck), nn.Conv2d(neck, 4, 1))
        nn.init.constant_(self.heat[-1].bias, -2.19)  # prior 0.1, as CenterNet

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c4 = self.s4(self.stem(x))
        c8 = self.s8(c4)
        c16 = self.s16(c8)
        c32 = self.s32(c16)
        p = self.lat32(c32)
        p = self.lat16(c16) + F.interpolate(p, size=c16.shape[-2:], mode="nearest")
        p = self.lat8(c8) + F.interpolate(p, size=c8.shape[-2:], mode="nearest")
        p = self.lat4(c4) + F.interpolate(p, size=c4.shape[-2:], mode="nearest")
        p = self.smooth(p)
        # One output tensor: [heat logit, dx, dy, log w, log h] at stride 4.
        return torch.cat([self.heat(p), self.reg(p)], dim=1)


def focal_loss(logits: torch.Tensor, heat: torch.Tensor) -> torch.Tensor:
    pred = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = heat.eq(1).float()
    pos_loss = torch.log(pred) * (1 - pred) ** 2 * pos
    neg_loss = torch.log(1 - pred) * pred**2 * (1 - heat) ** 4 * (1 - pos)
    n = pos.sum().clamp(min=1)
    return -(pos_loss.sum() + neg_loss.sum()) / n


# ------------------------------------------------------------------------------------- evaluation


def decode(output: np.ndarray, score_floor: float = 0.05, top_k: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (x1, y1, x2, y2 pixels) and scores from one (5, H/4, W/4) output; mirrors imint.sites.cnn."""
    heat = 1 / (1 + np.exp(-output[0]))
    pooled = cv2.dilate(heat, np.ones((3, 3), np.uint8))
    peaks = (heat == pooled) & (heat >= score_floor)
    ys, xs = np.nonzero(peaks)
    scores = heat[ys, xs]
    order = np.argsort(-scores)[:top_k]
    ys, xs, scores = ys[order], xs[order], scores[order]
    cx = (xs + output[1, ys, xs]) * STRIDE
    cy = (ys + output[2, ys, xs]) * STRIDE
    w = np.exp(np.clip(output[3, ys, xs], -3, 6)) * STRIDE
    h = np.exp(np.clip(output[4, ys, xs], -3, 6)) * STRIDE
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1).astype(np.float32), scores


def match(pred: np.ndarray, scores: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Greedy by score at IoU >= 0.5: True for each prediction that matched an unused truth box."""
    hit = np.zeros(len(pred), bool)
    if not len(pred) or not len(truth):
        return hit
    ious = box_iou(pred, truth)
    used = np.zeros(len(truth), bool)
    for i in np.argsort(-scores):
        cand = np.where(used, -1.0, ious[i])
        j = int(np.argmax(cand))
        if cand[j] >= 0.5:
            used[j], hit[i] = True, True
    return hit


def best_f1(all_scores: np.ndarray, all_hits: np.ndarray, n_truth: int) -> tuple[float, float, float, float]:
    order = np.argsort(-all_scores)
    tp = np.cumsum(all_hits[order])
    fp = np.cumsum(~all_hits[order])
    precision = tp / np.maximum(tp + fp, 1)
    recall = tp / max(n_truth, 1)
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-9)
    if not len(f1):
        return 0.0, 0.0, 0.0, 1.0
    k = int(np.argmax(f1))
    return float(f1[k]), float(precision[k]), float(recall[k]), float(all_scores[order][k])


@torch.no_grad()
def evaluate(model: nn.Module, items: list[dict]) -> dict:
    model.eval()
    scores_all, hits_all, n_truth = [], [], 0
    for item in items:
        image = item["image"]
        h, w = image.shape
        ph, pw = -(-h // 32) * 32, -(-w // 32) * 32
        padded = np.zeros((ph, pw), np.float32)
        padded[:h, :w] = image / 255.0
        out = model(torch.from_numpy(padded)[None, None]).numpy()[0]
        boxes, scores = decode(out)
        scores_all.append(scores)
        hits_all.append(match(boxes, scores, item["boxes"]))
        n_truth += len(item["boxes"])
    model.train()
    f1, p, r, thr = best_f1(np.concatenate(scores_all), np.concatenate(hits_all), n_truth)
    inshore = [i for i, item in enumerate(items) if item["subset"] == "inshore"]
    f1_in = 0.0
    if inshore:
        s_in = np.concatenate([scores_all[i] for i in inshore])
        h_in = np.concatenate([hits_all[i] for i in inshore])
        keep = s_in >= thr
        tp, fp = int(h_in[keep].sum()), int((~h_in[keep]).sum())
        n_in = sum(len(items[i]["boxes"]) for i in inshore)
        f1_in = 2 * tp / max(2 * tp + fp + (n_in - tp), 1)
    return {
        "f1": f1,
        "precision": p,
        "recall": r,
        "threshold": thr,
        "inshore_f1": f1_in,
        "images": len(items),
        "objects": n_truth,
    }


# ------------------------------------------------------------------------------------------- main


def export_onnx(model: nn.Module, path: Path) -> None:
    model.eval()
    dummy = torch.zeros(1, 1, 256, 256)
    torch.onnx.export(
        model,
        (dummy,),
        str(path),
        input_names=["image"],
        output_names=["maps"],
        dynamic_axes={"image": {0: "n", 2: "h", 3: "w"}, "maps": {0: "n", 2: "h4", 3: "w4"}},
        opset_version=17,
        dynamo=False,
    )


def install(out: Path, models_dir: Path, data: Path, *, tta: bool = False) -> None:
    """Copy the exported ONNX into the package with its card (threshold, split, measured accuracy)."""
    import shutil

    state = torch.load(out / "best.pt", map_location="cpu")
    split = json.loads((out / "split.json").read_text())
    arch = state.get("arch", {"widths": [24, 48, 64, 96, 128], "neck": 48})
    split_rule = state.get("split", "sha1")
    n_params = sum(
        v.numel()
        for k, v in state["model"].items()
        if not k.endswith(("running_mean", "running_var", "num_batches_tracked"))
    )
    models_dir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(out / "shipnet.onnx", models_dir / "shipnet.onnx")
    digest = hashlib.sha256((models_dir / "shipnet.onnx").read_bytes()).hexdigest()
    card = {
        "name": "shipnet",
        "version": "v2" if split_rule == "honest" else "v1",
        "task": "ship detection in SAR amplitude chips (single class)",
        "architecture": "CenterNet-style: plain conv backbone (strides 2-32), FPN to stride 4, "
        "heads: centre heat-map, offset, log size",
        "input": "1 x 1 x H x W float32, 8-bit grey / 255 (H, W padded to a multiple of 32)",
        "output": "1 x 5 x H/4 x W/4: heat logit, dx, dy, log(w/4), log(h/4)",
        "stride": STRIDE,
        "threshold": round(float(state["val"]["threshold"]), 4),
        "threshold_rule": "F1-optimal score on the validation slice (never the held-out part)",
        "widths": arch["widths"],
        "neck": arch["neck"],
        "parameters": n_params,
        "epoch": state["epoch"],
        "training_minutes": round(state["spent"] / 60, 1),
        "validation": {k: round(v, 4) if isinstance(v, float) else v for k, v in state["val"].items()},
        "split": split_rule,
        "validation_rule": (
            f"dev part of the honest split (imint.sites.evaluate.honest_parts); every {VAL_EVERY}th dev split "
            "group per source (by name) is validation; the held-out part is never read"
            if split_rule == "honest"
            else f"sha1(scene or image name) % 100 < {VAL_PERCENT}"
        ),
        "training_choices": state.get("choices", {}),
        "validation_images": split["val_images"],
        "training_data": "SAR chips of ../shared/data/ships (SSDD train split, HRSID mini_test, SAR-Ship-Dataset); "
        "research use only, see training/ships/MODEL_CARD.md",
        "onnx_sha256": digest,
        "trained_with": f"torch {torch.__version__}, train.py, 1 CPU thread, crop {state.get('crop', 256)} px",
    }
    card["tta"] = tta
    (models_dir / "shipnet.json").write_text(json.dumps(card, indent=1) + "\n")
    # The threshold that ships is re-chosen on the validation split through the deployed path
    # (imint.sites.cnn on onnxruntime, with or without the mirror-image test-time augmentation).
    from imint.sites import cnn

    cnn.MODEL_DIR = models_dir
    cnn.load_model.cache_clear()
    val = [it for it in load_sar(data, split_rule) if it["val"]]
    scores_all, hits_all = [], []
    for item in val:
        found = cnn.detect_array(item["image"], score_floor=0.05)
        scores_all.append(found.scores)
        hits_all.append(match(found.boxes, found.scores, item["boxes"]))
    n_truth = sum(len(it["boxes"]) for it in val)
    f1, precision, recall, threshold = best_f1(np.concatenate(scores_all), np.concatenate(hits_all), n_truth)
    card["threshold"] = round(threshold, 4)
    card["validation_onnx"] = {
        "f1": round(f1, 4),
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "images": len(val),
        "objects": n_truth,
        "tta": tta,
    }
    (models_dir / "shipnet.json").write_text(json.dumps(card, indent=1) + "\n")
    print(
        f"installed {models_dir / 'shipnet.onnx'} ({digest[:12]}), tta {tta}, threshold {card['threshold']}, "
        f"validation F1 {f1:.4f} (P {precision:.3f} R {recall:.3f})"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data/ships"))
    parser.add_argument("--out", type=Path, default=Path("training/ships/runs/main"))
    parser.add_argument("--minutes", type=float, default=75.0, help="training time budget (cosine schedule)")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--split", choices=("honest", "sha1"), default="honest")
    parser.add_argument("--widths", type=str, default="24,48,64,96,128", help="backbone widths, strides 2-32")
    parser.add_argument("--neck", type=int, default=48)
    parser.add_argument("--crop", type=int, default=256, help="training window side (px)")
    parser.add_argument(
        "--inshore-weight", type=int, default=1, help="inshore chips seen this many times per epoch"
    )
    parser.add_argument(
        "--hard-negatives", action="store_true", help="crops centred on bright non-ship points"
    )
    parser.add_argument("--paste", type=float, default=0.0, help="share of crops with ship patches pasted in")
    parser.add_argument("--val-minutes", type=float, default=0.0, help="validate at most every N minutes")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--export-only", action="store_true")
    parser.add_argument(
        "--tta", action="store_true", help="with --install: mirror-image test-time augmentation"
    )
    parser.add_argument(
        "--install",
        type=Path,
        default=None,
        help="copy the best model + card into this models folder and stop",
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    args.out.mkdir(parents=True, exist_ok=True)
    log = open(args.out / "train.log", "a", buffering=1)

    def say(msg: str) -> None:
        line = f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} {msg}"
        print(line, file=log)
        print(line, file=sys.stderr)

    global CROP
    CROP = args.crop
    widths = tuple(int(w) for w in args.widths.split(","))
    arch = {"widths": list(widths), "neck": args.neck}
    choices = {
        "inshore_weight": args.inshore_weight,
        "hard_negatives": args.hard_negatives,
        "paste": args.paste,
        "crop": args.crop,
        "batch": args.batch,
        "lr": args.lr,
        "minutes": args.minutes,
    }
    if args.install or args.export_only:
        arch = torch.load(args.out / "best.pt", map_location="cpu").get("arch", arch)
    model = ShipNet(tuple(arch["widths"]), arch["neck"])
    if args.install:
        install(args.out, args.install, args.data, tta=args.tta)
        return
    if args.export_only:
        state = torch.load(args.out / "best.pt", map_location="cpu")
        model.load_state_dict(state["model"])
        export_onnx(model, args.out / "shipnet.onnx")
        say(f"exported {args.out / 'shipnet.onnx'} from epoch {state['epoch']} val {state['val']}")
        return

    items = load_sar(args.data, args.split)
    train = [it for it in items if not it["val"]]
    val = [it for it in items if it["val"]]
    if args.hard_negatives:
        for it in train:
            if it["subset"] == "inshore":
                it["negatives"] = hard_negative_points(it)
    patches = ship_patches(train) if args.paste > 0 else None
    # Inshore chips weighted up: listed several times in each epoch's order.
    epoch_items = [
        i
        for i, it in enumerate(train)
        for _ in range(args.inshore_weight if it["subset"] == "inshore" else 1)
    ]
    say(
        f"split {args.split}: {len(train)} train images / {sum(len(i['boxes']) for i in train)} ships "
        f"({sum(it['subset'] == 'inshore' for it in train)} inshore), "
        f"{len(val)} val images / {sum(len(i['boxes']) for i in val)} ships; "
        f"params {sum(p.numel() for p in model.parameters())}; arch {arch}; choices {choices}; "
        f"{len(patches or [])} ship patches; {len(epoch_items)} crops per epoch"
    )
    json.dump({"val_images": sorted(i["name"] for i in val)}, open(args.out / "split.json", "w"), indent=1)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    epoch, spent, best, last_val = 0, 0.0, -1.0, -1e9
    if args.resume and (args.out / "last.pt").exists():
        state = torch.load(args.out / "last.pt", map_location="cpu")
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["opt"])
        epoch, spent, best = state["epoch"], state["spent"], state["best"]
        last_val = state.get("last_val", -1e9)
        rng.setstate(state["rng"])
        say(f"resumed at epoch {epoch}, {spent / 60:.1f} min spent, best val F1 {best:.4f}")
    budget = args.minutes * 60
    model.train()
    while spent < budget:
        epoch += 1
        started = time.time()
        order = list(epoch_items)
        rng.shuffle(order)
        losses = []
        for b in range(0, len(order) - args.batch + 1, args.batch):
            frac = min((spent + time.time() - started) / budget, 1.0)
            warm = min(1.0, (spent + time.time() - started) / 120)  # two-minute warm-up
            for g in opt.param_groups:
                g["lr"] = args.lr * warm * (0.02 + 0.98 * 0.5 * (1 + math.cos(math.pi * frac)))
            crops, heats, regs, masks = [], [], [], []
            for i in order[b : b + args.batch]:
                crop, boxes = random_crop(train[i], rng, patches=patches, paste_p=args.paste)
                heat, reg, mask = make_targets(boxes, CROP)
                crops.append(crop)
                heats.append(heat)
                regs.append(reg)
                masks.append(mask)
            x = torch.from_numpy(np.stack(crops))[:, None]
            heat_t = torch.from_numpy(np.stack(heats))[:, None]
            reg_t = torch.from_numpy(np.stack(regs))
            mask_t = torch.from_numpy(np.stack(masks))[:, None]
            out = model(x)
            l_heat = focal_loss(out[:, :1], heat_t)
            n_pos = mask_t.sum().clamp(min=1)
            l_off = (F.l1_loss(out[:, 1:3], reg_t[:, :2], reduction="none") * mask_t).sum() / n_pos
            l_size = (F.l1_loss(out[:, 3:5], reg_t[:, 2:], reduction="none") * mask_t).sum() / n_pos
            loss = l_heat + l_off + l_size
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append((l_heat.item(), l_off.item(), l_size.item()))
            if spent + time.time() - started >= budget:
                break
        spent += time.time() - started
        mean = np.mean(losses, axis=0)
        msg = f"epoch {epoch} spent {spent / 60:.1f} min "
        msg += f"loss heat {mean[0]:.3f} off {mean[1]:.3f} size {mean[2]:.3f}"
        # Validation costs ~15 % of an epoch: run it once the model is worth selecting.
        state = {
            "model": model.state_dict(),
            "opt": opt.state_dict(),
            "epoch": epoch,
            "spent": spent,
            "arch": arch,
            "split": args.split,
            "crop": args.crop,
            "choices": choices,
        }
        due = spent - last_val >= args.val_minutes * 60
        if (spent >= 0.4 * budget and due) or spent >= budget:
            last_val = spent
            v0 = time.time()
            val_metrics = evaluate(model, val)
            msg += f" | val F1 {val_metrics['f1']:.4f} P {val_metrics['precision']:.3f} "
            msg += (
                f"R {val_metrics['recall']:.3f} thr {val_metrics['threshold']:.3f} "
                f"inshore F1 {val_metrics['inshore_f1']:.4f} ({time.time() - v0:.0f}s)"
            )
            if val_metrics["f1"] > best:
                best = val_metrics["f1"]
                torch.save({**state, "val": val_metrics}, args.out / "best.pt")
                msg += " *best*"
        torch.save({**state, "best": best, "last_val": last_val, "rng": rng.getstate()}, args.out / "last.pt")
        say(msg)
    state = torch.load(args.out / "best.pt", map_location="cpu")
    model.load_state_dict(state["model"])
    export_onnx(model, args.out / "shipnet.onnx")
    json.dump(state["val"] | {"epoch": state["epoch"]}, open(args.out / "best_val.json", "w"), indent=1)
    say(f"done: best epoch {state['epoch']} val {state['val']}; exported shipnet.onnx")


if __name__ == "__main__":
    main()
