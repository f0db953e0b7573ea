"""The figures quoted in docs/checks.md, measured on public-domain pictures of scikit-image.

    PYTHONPATH=src python -m imint.checks.measure

Nothing here is a benchmark of real-world accuracy: a handful of pictures, made-up edits. It shows what
the thresholds were set against and that the methods do what their docstrings say on those pictures.
"""

from __future__ import annotations

import io
import itertools
import time

import cv2
import numpy as np
from PIL import Image

from imint.checks.copymove import largest_translation, self_matches
from imint.checks.ela import ela_map, robust_peak
from imint.checks.jpeg import estimate_quality, find_ghost, ghost_curve
from imint.checks.noise import noise_map
from imint.media.phash import hamming, hash_image, hex_to_uint64

CLEAN = ("astronaut", "coffee", "chelsea", "rocket", "camera", "brick")
PASTE = (300, 180, 128)


def _pictures(names: tuple[str, ...]) -> dict[str, np.ndarray]:
    from skimage import data

    out = {}
    for name in names:
        try:
            im = getattr(data, name)()
        except Exception:  # noqa: BLE001 - a data file this skimage build lacks
            continue
        if im.ndim == 2:
            im = np.repeat(im[..., None], 3, axis=2)
        if im.dtype != np.uint8:
            im = (255 * (im / max(float(im.max()), 1e-9))).astype(np.uint8)
        out[name] = np.ascontiguousarray(im[..., :3])
    return out


def _jpeg(rgb: np.ndarray, q: int) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=q)
    return buf.getvalue()


def _dec(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def _dist(a, b) -> int:  # noqa: ANN001 - ImageHash
    direct = hamming(a.hash_hex, hex_to_uint64([b.hash_hex]))[0]
    mirror = hamming(a.hash_hex, hex_to_uint64([b.mirror_hex]))[0]
    return int(min(direct, mirror))


def near_duplicates() -> None:
    pics = _pictures(
        CLEAN
        + (
            "grass",
            "gravel",
            "horse",
            "moon",
            "page",
            "text",
            "retina",
            "hubble_deep_field",
            "immunohistochemistry",
            "motorcycle_left",
            "colorwheel",
            "logo",
            "cell",
            "clock",
            "coins",
            "eagle",
        )
    )
    astro = pics["astronaut"]
    h0 = hash_image(astro)
    variants = {
        "mirrored, resized to 300 px, JPEG q60": _dec(
            _jpeg(np.asarray(Image.fromarray(astro[:, ::-1]).resize((300, 300))), 60)
        ),
        "resized to 200 px, JPEG q40": _dec(_jpeg(np.asarray(Image.fromarray(astro).resize((200, 200))), 40)),
        "cropped 5 % each side": astro[13:-13, 13:-13],
        "cropped 15 % each side": astro[38:-38, 38:-38],
    }
    for name, v in variants.items():
        print(f"near-duplicates: astronaut vs {name}: {_dist(hash_image(v), h0)} of 64 bits")
    hashes = {k: hash_image(v) for k, v in pics.items()}
    ds = np.array([_dist(hashes[a], hashes[b]) for a, b in itertools.combinations(hashes, 2)])
    print(
        f"near-duplicates: {len(hashes)} different pictures, {len(ds)} pairs: min {ds.min()}, "
        f"5th percentile {np.percentile(ds, 5):.0f}, median {np.median(ds):.0f}"
    )
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 2**63, 100_000, dtype=np.int64).astype(np.uint64)
    t = time.perf_counter()
    for _ in range(20):
        hamming(h0.hash_hex, arr)
    print(
        f"near-duplicates: numpy Hamming scan of 100,000 hashes: {(time.perf_counter() - t) / 20 * 1000:.1f} ms"
    )


def forensics() -> None:
    pics = _pictures(CLEAN)
    base = _dec(_jpeg(pics["astronaut"], 70))
    y0, x0, s = PASTE
    inside = np.zeros(base.shape[:2], bool)
    inside[y0 : y0 + s, x0 : x0 + s] = True
    for donor in ("coffee", "chelsea", "rocket"):
        fake = base.copy()
        fake[y0 : y0 + s, x0 : x0 + s] = pics[donor][50 : 50 + s, 100 : 100 + s]
        out = _dec(_jpeg(fake, 90))
        for name, m in (("ELA q75", ela_map(out)), ("noise", noise_map(out))):
            top = m >= np.percentile(m, 95)
            print(
                f"paste of {donor} into astronaut (q70, then q90): {name}: {(top & inside).sum() / top.sum():.2f} "
                f"of the hottest 5 % inside the box (chance {inside.mean():.3f}); ELA peak "
                f"{robust_peak(ela_map(out)[::8, ::8]):.1f}"
                if name == "ELA q75"
                else f"paste of {donor}: {name}: {(top & inside).sum() / top.sum():.2f} of the hottest 5 % inside the box"
            )
    for name, rgb in pics.items():
        once = _dec(_jpeg(rgb, 90))
        print(
            f"clean {name} (JPEG q90): ELA peak {robust_peak(ela_map(once)[::8, ::8]):.1f}, "
            f"noise peak {np.percentile(noise_map(once), 99.5):.1f}"
        )
    for first, last in ((70, 90), (60, 85), (None, 90)):
        data = _jpeg(_dec(_jpeg(pics["astronaut"], first)), last) if first else _jpeg(pics["astronaut"], last)
        im = Image.open(io.BytesIO(data))
        q = estimate_quality({int(k): list(v) for k, v in im.quantization.items()})
        curve = {k: float(v.mean()) for k, v in ghost_curve(_dec(data)).items()}
        print(
            f"JPEG: saved at {first or '-'} then {last}: last-save estimate {q['quality']} (standard {q['standard']}), "
            f"ghost {find_ghost(curve, q['quality'])}"
        )
    img = pics["astronaut"].copy()
    img[390:470, 260:340] = img[330:410, 60:140]
    for name, rgb in [("astronaut with an 80 px clone shifted (200, 60)", img)] + list(pics.items()):
        src, dst = self_matches(cv2.cvtColor(_dec(_jpeg(rgb, 90)), cv2.COLOR_RGB2GRAY))
        members, off = largest_translation(src, dst)
        print(f"copy-move: {name}: {len(members)} matches share one shift ({off[0]:.0f}, {off[1]:.0f})")


def timing() -> None:
    """Seconds per picture for the cheap checks and for all checks, in a throw-away workspace."""
    import tempfile
    from pathlib import Path

    from imint.checks.registry import GROUPS
    from imint.checks.runner import run_checks
    from imint.workspace import Workspace

    astro = _pictures(("astronaut",))["astronaut"]
    with tempfile.TemporaryDirectory() as tmp, Workspace(Path(tmp) / "ws") as ws:
        for side in (512, 2048):
            f = Path(tmp) / f"astronaut{side}.jpg"
            f.write_bytes(_jpeg(np.asarray(Image.fromarray(astro).resize((side, side))), 90))
            ev = ws.ingest(f)
            run_checks(ws, ev, ["metadata", "c2pa"])  # loads exiv2, timezonefinder and c2pa once
            t = time.perf_counter()
            run_checks(ws, ev, list(GROUPS["cheap"]))
            cheap = time.perf_counter() - t
            t = time.perf_counter()
            run_checks(ws, ev)
            print(
                f"timing: {side} x {side} JPEG: cheap checks {cheap:.2f} s, all checks {time.perf_counter() - t:.2f} s"
            )


if __name__ == "__main__":
    near_duplicates()
    forensics()
    timing()
