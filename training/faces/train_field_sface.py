"""Fine-tune SFace so that a field-degraded face embeds where its clean photo does.

    .venv/bin/pip install -e '.[train]'          # torch==2.13.0, CPU
    .venv/bin/python training/faces/train_field_sface.py .cache/field_sface/crops.npz

The defaults are the committed run (docs/face-accuracy.md, run 5: about 280 steps in 14 min here).

Teacher: the wheel's SFace on the clean photo (flip TTA), the embedding every clean face gets.
Student: a copy of SFace (training/faces/sface_torch.py) fed the aligned crop of a degraded
copy (build_field_crops.py). Loss: 1 - cosine(student, teacher), plus a relational term (the
student's cosines to the other photos of the batch should equal the teacher's clean ones),
plus an L2 pull of every trained weight towards its original value (L2-SP) so a few hundred
photos cannot drag the network far from what it learnt on millions. Only BatchNorm's affine
parameters and the first seven conv blocks train; BatchNorm statistics stay frozen. Photos of
a tenth of the identities are kept out for validation; the best validation step is written as
float16 tensors to src/imint/faces/field_sface.npz, which imint.faces.sface_net folds into
the wheel's network at load time (only for tiny faces; clean faces keep the original).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
from sface_torch import SFaceTorch  # noqa: E402

OUT = Path(__file__).resolve().parents[2] / "src/imint/faces/field_sface.npz"


def batches(n: int, size: int, rng: np.random.Generator):
    order = rng.permutation(n)
    for i in range(0, n - size + 1, size):
        yield order[i : i + size]


def to_tensor(crops: np.ndarray, rng: np.random.Generator | None) -> torch.Tensor:
    x = torch.from_numpy(crops.astype(np.float32)).permute(0, 3, 1, 2)
    if rng is not None:
        flip = torch.from_numpy(rng.random(len(x)) < 0.5)
        x[flip] = x[flip].flip(-1)
        dx, dy = (int(v) for v in rng.integers(-2, 3, size=2))
        x = torch.roll(x, shifts=(dy, dx), dims=(2, 3))
    return x.contiguous(memory_format=torch.channels_last)


def evaluate(model: SFaceTorch, crops: np.ndarray, teacher: torch.Tensor) -> float:
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(crops), 64):
            out.append(F.normalize(model(to_tensor(crops[i : i + 64], None)), dim=1))
    return float((torch.cat(out) * teacher).sum(1).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("crops", type=Path)
    ap.add_argument("--minutes", type=float, default=14.0)
    ap.add_argument("--lr", type=float, default=2e-4)
    ap.add_argument("--l2sp", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--min-upsampling", type=float, default=1.6)
    ap.add_argument("--freeze", default="", help="weight-name prefixes kept fixed")
    ap.add_argument(
        "--only",
        default="conv_1_,conv_2_,conv_3_,conv_4_,conv_5_,conv_6_,conv_7_,gamma,beta",
        help="train only weights whose name contains one of these comma-separated parts (e.g. gamma,beta)",
    )
    ap.add_argument(
        "--relational",
        type=float,
        default=10.0,
        help="weight of the loss that keeps the cosines between different photos what the teacher gives",
    )
    ap.add_argument("--eval-every", type=int, default=40, help="validate every this many steps")
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    torch.set_num_threads(2)

    data = np.load(args.crops)
    keep = data["upsampling"] >= args.min_upsampling
    crops, teacher, ident = data["crop"][keep], data["teacher"][keep], data["identity"][keep]
    val = np.array([hashlib.sha1(i.encode()).digest()[1] % 10 == 0 for i in ident])
    print(
        f"{len(crops)} crops ({(~val).sum()} train, {val.sum()} validation) from {len(set(ident))} identities"
    )
    t_train = torch.from_numpy(teacher[~val]).float()
    t_val = torch.from_numpy(teacher[val]).float()
    c_train, c_val = crops[~val], crops[val]
    data_photo_train = data["photo"][keep][~val]

    model = SFaceTorch()
    frozen = tuple(p for p in args.freeze.split(",") if p)
    original = {name: w.detach().clone() for name, w in model.onnx_state().items()}
    trainable = []
    for name, key in model._key.items():
        param = model.weights[key]
        is_stat = name.endswith("moving_mean") or name.endswith("moving_var")
        only = tuple(p for p in args.only.split(",") if p)
        param.requires_grad = (
            not is_stat
            and not name.startswith(frozen)
            and name not in ("scalar_op1", "scalar_op2")
            and (not only or any(part in name for part in only))
        )
        if param.requires_grad:
            trainable.append((name, param))
    print(f"training {sum(p.numel() for _, p in trainable):,} weights in {len(trainable)} tensors")
    opt = torch.optim.Adam([p for _, p in trainable], lr=args.lr)

    best = evaluate(model, c_val, t_val)
    print(f"validation cosine(student(degraded), teacher(clean)) before training: {best:.4f}", flush=True)
    best_state = {n: p.detach().clone() for n, p in trainable}
    t0, epoch, step = time.time(), 0, 0
    while time.time() - t0 < args.minutes * 60:
        epoch += 1
        model.train()
        losses = []
        for idx in batches(len(c_train), args.batch, rng):
            step += 1
            x = to_tensor(c_train[idx], rng)
            y = F.normalize(model(x), dim=1)
            t = t_train[idx]
            loss = 1 - (y * t).sum(1).mean()
            if args.relational:
                # Pulling every degraded face onto its clean target alone raises all cosines,
                # strangers' too; ask that the cosine of a degraded face to other photos (clean
                # or degraded) stays what the teacher gives for the two clean photos.
                other = torch.from_numpy(data_photo_train[idx][:, None] != data_photo_train[idx][None, :])
                target = t @ t.T
                loss = loss + args.relational * (
                    ((y @ y.T - target)[other] ** 2).mean() + ((y @ t.T - target)[other] ** 2).mean()
                )
            reg = sum(((p - original[n]) ** 2).sum() for n, p in trainable)
            opt.zero_grad()
            (loss + args.l2sp * reg).backward()
            opt.step()
            losses.append(float(loss.detach()))
            if step % args.eval_every == 0:
                score = evaluate(model, c_val, t_val)
                model.train()
                print(
                    f"epoch {epoch} step {step}: train loss {np.mean(losses[-args.eval_every :]):.4f}, "
                    f"validation cosine {score:.4f}, {time.time() - t0:.0f} s",
                    flush=True,
                )
                if score > best:
                    best, best_state = score, {n: p.detach().clone() for n, p in trainable}
            if time.time() - t0 > args.minutes * 60:
                break
    tensors = {n: p.numpy().astype(np.float16) for n, p in best_state.items()}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **tensors)
    print(f"best validation cosine {best:.4f}; wrote {len(tensors)} tensors to {args.out}")


if __name__ == "__main__":
    main()
