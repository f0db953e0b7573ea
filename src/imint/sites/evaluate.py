"""``imint eval ships``: detection quality and speed on a folder laid out like ``../shared/data/ships``.

The folder holds ``images.csv`` (image, width, height, source, sensor, modality, scene, subset,
n_objects) and ``annotations.csv`` (image, x1, y1, x2, y2, label, difficult). Only ``ship`` boxes are
truth; ``difficult`` ones are neither required nor counted as false alarms when found. Predictions
are matched greedily by score at IoU >= 0.5. Precision / recall / F1 are at the detector's operating
point (CFAR: every detection; CNN: its card's threshold); AP50 is the all-point interpolated area
under the precision-recall curve of all ranked detections.

Every image also gets a *part* of the honest split (:func:`honest_part`, fixed before any tuning):
``dev`` (tune here) or ``heldout`` (read here only). Results are broken down by part, source and
inshore/offshore subset, and the held-out part is also scored at the F1-best threshold picked on the
dev part (so a threshold choice is never read on the images that chose it).
"""

from __future__ import annotations

import csv
import math
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from imint.errors import BadInputError, ValidationError
from imint.records import box_iou

IOU = 0.5
CNN_SCORE_FLOOR = 0.05
PARTS = ("dev", "heldout")
SSDD_BLOCK = 50  # SSDD image numbers per block: chips of one scene come in runs of numbers
HELDOUT_EVERY = 4  # every 4th block / scene goes to the held-out part (about a quarter)


def source_key(row: dict[str, str]) -> str:
    """Short source name: the first word of images.csv ``source`` (SSDD, HRSID, SAR-Ship-Dataset, DOTA)."""
    return (row.get("source") or "").split(" ")[0] or "unknown"


def split_group(row: dict[str, str]) -> str:
    """The unit the honest split keeps together: a source's scene, or a block of SSDD numbers.

    SSDD gives no scene ID, but its chips were cut from a few large scenes in runs of consecutive
    numbers (measured on the dev set: neighbouring numbers differ far less in median, spread and
    99th-percentile grey than numbers 100 apart), so a block of ``SSDD_BLOCK`` numbers stands in
    for a scene. An image with neither a scene nor a number is its own group.
    """
    source, scene = source_key(row), (row.get("scene") or "").strip()
    if scene:
        return f"{source}:{scene}"
    number = re.search(r"(\d+)", Path(row["image"]).stem)
    if source == "SSDD" and number:
        return f"SSDD:block{(int(number.group(1)) - 1) // SSDD_BLOCK:03d}"
    return f"{source}:{row['image']}"


def honest_parts(images: list[dict[str, str]]) -> dict[str, str]:
    """image -> ``dev`` | ``heldout``: per source, sort its groups by name, every 4th (index 3, 7, ...) is held out.

    Deterministic, decided on names only (no pixel, no score), and no group is split, so no scene
    (and no run of neighbouring SSDD chips) is on both sides. Sources with fewer than 4 groups
    (the two DOTA crops) are dev only.
    """
    groups: dict[str, set[str]] = {}
    for row in images:
        groups.setdefault(source_key(row), set()).add(split_group(row))
    held = {
        g
        for names in groups.values()
        for i, g in enumerate(sorted(names))
        if i % HELDOUT_EVERY == HELDOUT_EVERY - 1
    }
    return {row["image"]: "heldout" if split_group(row) in held else "dev" for row in images}


def match_greedy(
    boxes: np.ndarray,
    scores: np.ndarray,
    truth: np.ndarray,
    ignore: np.ndarray | None = None,
    iou: float = IOU,
) -> tuple[np.ndarray, np.ndarray]:
    """(hit, counted) per prediction: highest score first takes the best unused truth box at IoU >= iou.

    A prediction that only matches an ignored (difficult) box is not counted at all.
    """
    n = len(boxes)
    hit, counted = np.zeros(n, bool), np.ones(n, bool)
    order = np.argsort(-scores, kind="stable")
    if len(truth) and n:
        ious = box_iou(boxes, truth)
        used = np.zeros(len(truth), bool)
        for i in order:
            cand = np.where(used, -1.0, ious[i])
            j = int(np.argmax(cand))
            if cand[j] >= iou:
                used[j], hit[i] = True, True
    if ignore is not None and len(ignore) and n:
        near_ignored = (box_iou(boxes, ignore) >= iou).any(axis=1)
        counted &= hit | ~near_ignored
    return hit, counted


def summarise(records: list[dict[str, Any]], threshold: float) -> dict[str, Any]:
    """Metrics over per-image records {scores, hits, counted, n_truth}."""
    n_truth = int(sum(r["n_truth"] for r in records))
    scores = np.concatenate([r["scores"][r["counted"]] for r in records]) if records else np.zeros(0)
    hits = np.concatenate([r["hits"][r["counted"]] for r in records]) if records else np.zeros(0, bool)
    keep = scores >= threshold
    tp, fp = int(hits[keep].sum()), int((~hits[keep]).sum())
    fn = n_truth - tp
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / n_truth if n_truth else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    order = np.argsort(-scores, kind="stable")
    ctp, cfp = np.cumsum(hits[order]), np.cumsum(~hits[order])
    ap = 0.0
    if n_truth and len(order):
        rec = ctp / n_truth
        prec = ctp / np.maximum(ctp + cfp, 1)
        prec = np.maximum.accumulate(prec[::-1])[::-1]  # precision envelope
        ap = float(np.sum(np.diff(np.concatenate([[0.0], rec])) * prec))
    return {
        "images": len(records),
        "objects": n_truth,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
        "ap50": round(ap, 4),
    }


def best_threshold(records: list[dict[str, Any]]) -> float:
    """The score threshold with the highest F1 over ``records`` (ties: the lower threshold)."""
    scores = np.concatenate([r["scores"][r["counted"]] for r in records]) if records else np.zeros(0)
    best, best_f1 = 0.0, -1.0
    for t in np.unique(np.round(scores, 4)):
        f1 = summarise(records, float(t))["f1"]
        if f1 > best_f1:
            best, best_f1 = float(t), f1
    return best


def part_breakdown(records: list[dict[str, Any]], threshold: float, *, trained_on: bool) -> dict[str, Any]:
    """Per part of the honest split: totals, SAR, SAR inshore/offshore, per source; and for the held-out
    part the figures at the F1-best threshold of the dev part. With a CNN, ``unseen`` keeps only the
    images its training never saw (its own validation split)."""
    out: dict[str, Any] = {}
    sar_dev = [r for r in records if r["part"] == "dev" and r["modality"] == "SAR"]
    dev_threshold = best_threshold(sar_dev) if sar_dev else threshold
    for name in PARTS:
        rs = [r for r in records if r["part"] == name]
        sar = [r for r in rs if r["modality"] == "SAR"]
        entry: dict[str, Any] = summarise(rs, threshold)
        entry["sar"] = summarise(sar, threshold)
        entry["sar_by_subset"] = {
            s: summarise([r for r in sar if r["subset"] == s], threshold) for s in ("inshore", "offshore")
        }
        entry["by_source"] = {
            s: summarise([r for r in rs if r["source"] == s], threshold)
            for s in sorted({r["source"] for r in rs})
        }
        if trained_on:
            unseen = [r for r in sar if r["split"] == "validation"]
            entry["sar_unseen"] = summarise(unseen, threshold)
        out[name] = entry
    out["dev_best_threshold"] = round(dev_threshold, 4)
    held_sar = [r for r in records if r["part"] == "heldout" and r["modality"] == "SAR"]
    out["heldout"]["sar_at_dev_best_threshold"] = summarise(held_sar, dev_threshold)
    out["heldout"]["sar_by_subset_at_dev_best_threshold"] = {
        s: summarise([r for r in held_sar if r["subset"] == s], dev_threshold)
        for s in ("inshore", "offshore")
    }
    return out


BOX_COLUMNS = ("x1", "y1", "x2", "y2")


def _read_rows(path: Path, required: set[str], need: str) -> list[dict[str, str]]:
    """The rows of a CSV file with the ``required`` columns, every required cell present."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames is not None and not required <= set(reader.fieldnames):
                raise BadInputError(f"{path.name} needs {need}", subject=path)
            rows = list(reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        # Found by tests/test_fuzz_eval.py: a file in another encoding, or a cell over csv's field limit.
        raise BadInputError(f"not a readable UTF-8 CSV file ({exc})", subject=path) from exc
    for line, row in enumerate(rows, start=2):
        if any(row.get(c) is None for c in required):
            raise BadInputError(f"row {line} has fewer cells than the header", subject=path)
    return rows


def read_folder(folder: Path) -> tuple[list[dict[str, str]], dict[str, list[dict[str, str]]]]:
    images_csv, ann_csv = folder / "images.csv", folder / "annotations.csv"
    for f in (images_csv, ann_csv):
        if not f.is_file():
            raise BadInputError("missing: an eval folder needs images.csv and annotations.csv", subject=f)
    images = _read_rows(images_csv, {"image", "modality"}, "at least the columns image and modality")
    for line, row in enumerate(images, start=2):
        name = Path(row["image"])
        # Found by tests/test_fuzz_eval.py: '/etc' or '../x' would read files outside the eval folder.
        if not row["image"] or name.is_absolute() or ".." in name.parts:
            raise BadInputError(
                f"row {line}: image must be a path inside the folder, not {row['image']!r}",
                subject=images_csv,
            )
    boxes: dict[str, list[dict[str, str]]] = {}
    rows = _read_rows(ann_csv, {"image", *BOX_COLUMNS}, "image,x1,y1,x2,y2[,label,difficult]")
    for line, row in enumerate(rows, start=2):
        try:
            coords = [float(row[c]) for c in BOX_COLUMNS]
        except ValueError:
            raise BadInputError(f"row {line}: box corners must be numbers", subject=ann_csv) from None
        if not all(math.isfinite(v) for v in coords):
            raise BadInputError(f"row {line}: box corners must be finite numbers", subject=ann_csv)
        boxes.setdefault(row["image"], []).append(row)
    return images, boxes


def evaluate_ships(
    folder: str | Path,
    *,
    detector: str = "cfar",
    cfar_params: Any = None,
    on_image: Callable[[int, int], None] | None = None,
    limit: int | None = None,
    part: str | None = None,
    product_path: bool = False,
) -> dict[str, Any]:
    """Run a ship detector over every image of ``folder`` (or of one ``part``: dev / heldout) and score it.

    See the module doc; ``by_part`` holds the honest split's figures whatever ``part`` is. With
    ``product_path`` each chip goes the way ``imint detect ships`` takes a stored chip: opened as a
    raster (``geo.open_raster``: no georeference, so pixel mode) and run by ``detect_raster`` with the
    parameters the product picks itself (``cfar_params`` is then not used) and its automatic land mask.
    """
    from imint.sites import cfar, cnn

    folder = Path(folder)
    if detector not in ("cfar", "cnn"):
        raise ValidationError(f"unknown detector {detector!r}; choose cfar or cnn", subject="detector")
    if part not in (None, *PARTS):
        raise ValidationError(f"unknown part {part!r}; choose dev or heldout", subject="part")
    images, annotations = read_folder(folder)
    parts = honest_parts(images)
    if part:
        images = [row for row in images if parts[row["image"]] == part]
    if limit:
        images = images[:limit]
    params = cfar_params or cfar.CfarParams.for_chips()
    if product_path:
        params = cfar.CfarParams.pixel_mode()
    threshold, card = 0.0, {}
    if detector == "cnn":
        card = cnn.model_card()
        threshold = float(card["threshold"])
    validation_names = set(card.get("validation_images", []))
    records: list[dict[str, Any]] = []
    seconds, pixels = 0.0, 0
    for k, row in enumerate(images):
        path = folder / row["image"]
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if image is None:
            raise BadInputError("not a readable image", subject=path)
        truth_rows = [a for a in annotations.get(row["image"], []) if a.get("label", "ship") == "ship"]
        as_box = [[float(a[c]) for c in ("x1", "y1", "x2", "y2")] for a in truth_rows]
        hard = np.array([a.get("difficult", "0") in ("1", "true", "True") for a in truth_rows], bool)
        all_truth = np.array(as_box, np.float32).reshape(-1, 4)
        truth, ignore = all_truth[~hard], all_truth[hard]
        started = time.perf_counter()
        if product_path:
            found = _detect_product_path(path, detector)
        elif detector == "cfar":
            found = cfar.detect_array(image, params, pixel_size_m=1.0)
        else:
            found = cnn.detect_array(image, score_floor=min(CNN_SCORE_FLOOR, threshold))
        seconds += time.perf_counter() - started
        pixels += image.size
        hits, counted = match_greedy(found.boxes, found.scores, truth, ignore)
        records.append(
            {
                "scores": found.scores,
                "hits": hits,
                "counted": counted,
                "n_truth": len(truth),
                "modality": row.get("modality") or "unknown",
                "subset": row.get("subset") or "",
                "source": source_key(row),
                "split": "validation" if row["image"] in validation_names else "train",
                "part": parts[row["image"]],
            }
        )
        if on_image:
            on_image(k + 1, len(images))
    result: dict[str, Any] = {"detector": detector, "path": "product" if product_path else "chips"}
    result |= summarise(records, threshold)
    result["by_subset"] = {
        s: summarise([r for r in records if r["subset"] == s], threshold) for s in ("inshore", "offshore")
    }
    result["by_modality"] = {
        m: summarise([r for r in records if r["modality"] == m], threshold)
        for m in sorted({r["modality"] for r in records} | {"SAR", "optical"})
    }
    sar = [r for r in records if r["modality"] == "SAR"]
    result["by_subset_sar"] = {
        s: summarise([r for r in sar if r["subset"] == s], threshold) for s in ("inshore", "offshore")
    }
    result["by_source"] = {
        s: summarise([r for r in records if r["source"] == s], threshold)
        for s in sorted({r["source"] for r in records})
    }
    if validation_names:
        # The CNN chose its checkpoint and threshold on "validation" and learned from "train":
        # only the validation numbers are free of training-set optimism.
        result["by_split_sar"] = {
            s: summarise([r for r in sar if r["split"] == s], threshold) for s in ("train", "validation")
        }
    result["by_source_subset"] = {
        f"{s} {sub}": summarise([r for r in records if r["source"] == s and r["subset"] == sub], threshold)
        for s in sorted({r["source"] for r in records})
        for sub in ("inshore", "offshore")
        if any(r["source"] == s and r["subset"] == sub for r in records)
    }
    result["by_part"] = part_breakdown(records, threshold, trained_on=bool(validation_names))
    result["split_rule"] = (
        f"groups = scene (HRSID, SAR-Ship-Dataset, DOTA) or block of {SSDD_BLOCK} SSDD image numbers; "
        f"per source, groups sorted by name, every {HELDOUT_EVERY}th is held out"
    )
    result["iou"] = IOU
    result["operating_threshold"] = threshold
    result["detector_params"] = (
        params.to_dict()
        if detector == "cfar"
        else {k: card.get(k) for k in ("name", "version", "threshold", "input")}
    )
    result["seconds"] = round(seconds, 3)
    result["megapixels"] = round(pixels / 1e6, 3)
    result["megapixels_per_second"] = round(pixels / 1e6 / seconds, 3) if seconds else None
    return result


def _detect_product_path(path: Path, detector: str) -> Any:
    """Detections on one chip through the product's raster path (pixel mode, automatic land mask)."""
    import warnings

    from imint.sites import cfar, cnn, geo

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # "chip without georeference: pixel mode"
        info = geo.open_raster(path)
    if detector == "cfar":
        return cfar.detect_raster(info, None, land_mask="auto")
    return cnn.detect_raster(info)
