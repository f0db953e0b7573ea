"""``imint eval faces``: verification, identification and clustering on a labelled folder.

Everything runs through the product's own path: images are ingested into a
temporary workspace and analysed there, the ``gallery`` rows are enrolled, and
probes are matched by the same code ``imint search`` uses, at the engine's default
operating point with its committed calibration (never refitted on the folder).
"""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.stats import beta

from imint.errors import ImintError
from imint.faces.calibration import DEFAULT_FPIR
from imint.faces.cluster import DEFAULT_CLUSTER_FMR, cluster_embeddings
from imint.faces.datasets import in_fit_half, pick_labelled, read_face_folder
from imint.faces.engine import get_engine
from imint.faces.quality import QUALITY_BINS, is_poor, quality_bin
from imint.faces.results import DEFAULT_TOP_K, identified_as
from imint.media.images import load_image_file

if TYPE_CHECKING:
    from imint.records import Faces

FARS = (0.01, 0.001, 0.0001)
FPIRS = (0.1, 0.01)
# Operating points at which the committed calibration is checked: asked against seen.
CHECK_FMRS = (0.01, 0.001, 0.0001)
CHECK_FPIRS = (0.001, 0.003, 0.01, 0.03, 0.1)
BOOTSTRAP_ROUNDS = 2000


def _tar_at_far(genuine: np.ndarray, impostor: np.ndarray, far: float) -> float | None:
    if len(impostor) * far < 1:
        return None  # not enough impostor pairs to measure this FAR
    threshold = np.sort(impostor)[::-1][int(far * len(impostor))]
    return float((genuine > threshold).mean())


def _auc(genuine: np.ndarray, impostor: np.ndarray) -> float:
    scores = np.concatenate([genuine, impostor])
    ranks = np.empty(len(scores))
    order = np.argsort(scores, kind="mergesort")
    ranks[order] = np.arange(1, len(scores) + 1)
    # average ranks of ties
    _, inv, counts = np.unique(scores, return_inverse=True, return_counts=True)
    sums = np.bincount(inv, weights=ranks)
    ranks = (sums / counts)[inv]
    r_gen = ranks[: len(genuine)].sum()
    return float((r_gen - len(genuine) * (len(genuine) + 1) / 2) / (len(genuine) * len(impostor)))


def _analyse_one(args: tuple[str, str]) -> Faces | ImintError:
    path, model_id = args
    try:
        return get_engine(model_id).analyze(load_image_file(path))
    except ImintError as exc:
        return exc


def _analyse_all(images: list, model_id: str) -> Iterator[Faces | ImintError]:  # noqa: ANN001
    """Faces of every image, in order, computed by a pool of worker processes."""
    workers = max(1, min(os.cpu_count() or 1, 8))
    jobs = [(str(img.path), model_id) for img in images]
    if workers == 1 or len(jobs) < 20:
        yield from map(_analyse_one, jobs)
        return
    ctx = multiprocessing.get_context("spawn")  # a clean process: no inherited OpenCV/dlib state
    with ctx.Pool(workers, initializer=_warm, initargs=(model_id,)) as pool:
        yield from pool.imap(_analyse_one, jobs, chunksize=4)


def _cache_file(cache: Path, path: Path, model_id: str) -> Path:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return cache / model_id.replace("/", "_").replace("+", "-").replace(":", "") / f"{digest}.npz"


def _read_cached(file: Path, model_id: str) -> Faces | None:
    from imint.records import Faces

    if not file.exists():
        return None
    with np.load(file, allow_pickle=False) as data:
        return Faces(
            boxes=data["boxes"],
            landmarks=data["landmarks"],
            scores=data["scores"],
            quality=data["quality"],
            quality_reason=[str(r) for r in data["quality_reason"]],
            embeddings=data["embeddings"],
            model_id=model_id,
        )


def _write_cached(file: Path, faces: Faces) -> None:
    file.parent.mkdir(parents=True, exist_ok=True)
    part = file.with_suffix(".part.npz")
    np.savez(
        part,
        boxes=faces.boxes,
        landmarks=faces.landmarks,
        scores=faces.scores,
        quality=faces.quality,
        quality_reason=np.array(faces.quality_reason, dtype=str).reshape(-1),
        embeddings=faces.embeddings if faces.embeddings is not None else np.zeros((0, 0), np.float32),
    )
    part.replace(file)  # a killed run leaves no half-written entry


def _analyse_cached(images: list, model_id: str, cache: Path | None) -> Iterator[Faces | ImintError]:  # noqa: ANN001
    """``_analyse_all``, reusing analyses cached under ``cache`` by (file SHA-256, model id).

    A subset of a folder (e.g. its check identities, images linked) is then scored without analysing
    its images again; the figures are those of a fresh run, as the engine is deterministic."""
    if cache is None:
        yield from _analyse_all(images, model_id)
        return
    files = [_cache_file(cache, Path(img.path), model_id) for img in images]
    cached = [_read_cached(f, model_id) for f in files]
    fresh = _analyse_all([img for img, c in zip(images, cached, strict=True) if c is None], model_id)
    for file, hit in zip(files, cached, strict=True):
        if hit is not None:
            yield hit
            continue
        faces = next(fresh)
        if not isinstance(faces, ImintError):
            _write_cached(file, faces)
        yield faces


def _warm(model_id: str) -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    get_engine(model_id)


def evaluate_faces(
    data_dir: str | Path,
    *,
    progress: Callable[[int, int, str], None] | None = None,
    limit: int | None = None,
    model_id: str | None = None,
    cache: Path | None = None,
) -> dict[str, Any]:
    from imint.faces.service import FaceService
    from imint.workspace import Workspace

    folder = read_face_folder(data_dir, limit=limit)
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="imint-eval-") as tmp:
        ws = Workspace(Path(tmp) / "ws", user="eval")
        service = FaceService(ws, model_id) if model_id else ws.faces
        dim = service.engine.embedder.dim
        n = len(folder.images)
        emb = np.zeros((n, dim), np.float32)
        quality = np.zeros(n, np.float32)
        reasons = [""] * n
        found = np.zeros(n, bool)
        face_id = [-1] * n
        faces_analysed = 0
        errors: list[str] = []
        # Analysis (the slow part) runs in one worker process per core; the database
        # writes stay in this process, in one transaction per image as in `imint search`.
        for i, (img, analysed) in enumerate(
            zip(folder.images, _analyse_cached(folder.images, service.model_id, cache), strict=True)
        ):
            if progress:
                progress(i, n, img.rel)
            try:
                if isinstance(analysed, ImintError):
                    raise analysed
                with ws.session() as s:
                    ev = ws.ingest(img.path, session=s)
                    rows = service.store_analysis(s, ev, analysed)
            except ImintError as exc:
                errors.append(str(exc))
                continue
            faces_analysed += len(rows)
            if not rows:
                continue
            boxes = np.array([[r.x1, r.y1, r.x2, r.y2] for r in rows])
            w = int(ev.metadata.get("width") or boxes[:, 2].max())
            h = int(ev.metadata.get("height") or boxes[:, 3].max())
            j = pick_labelled(boxes, w, h, img.labelled_face_rule)
            row = rows[j]
            emb[i] = np.frombuffer(row.embedding, np.float32)
            quality[i], reasons[i], found[i], face_id[i] = row.quality, row.quality_reason, True, row.id
        if progress:
            progress(n, n, "")
        analysis_seconds = time.perf_counter() - start

        identities = np.array([img.identity for img in folder.images])
        report: dict[str, Any] = {
            "dataset": str(Path(data_dir)),
            "model": service.model_id,
            "images": n,
            "faces_found": int(found.sum()),
            "faces_analysed": faces_analysed,
            "poor_quality_labelled_faces": int(
                sum(is_poor(r) for r, f in zip(reasons, found, strict=True) if f)
            ),
            "unreadable_files": errors,
        }
        report["verification"] = _verification(emb, found, identities)
        if folder.ident:
            report["identification"] = _identification(
                service, ws, folder, emb, quality, reasons, found, face_id
            )
        report["clustering"] = _clustering(service, emb, quality, reasons, found, identities)
        report["calibration"] = _calibration_check(service, emb, quality, reasons, found, identities)
        if "identification" in report:
            report["calibration"]["fpir"] = report["identification"].pop("fpir_check")
        seconds = time.perf_counter() - start
        report["seconds"] = round(seconds, 2)
        report["faces_per_second"] = round(faces_analysed / max(analysis_seconds, 1e-9), 2)
        ws.close()
    return report


def _verification(emb: np.ndarray, found: np.ndarray, identities: np.ndarray) -> dict[str, Any]:
    """Every image pair of the manifest: same identity genuine, different impostor."""
    scores = emb @ emb.T
    iu = np.triu_indices(len(emb), 1)
    s = scores[iu]
    ok = (found[:, None] & found[None, :])[iu]
    s = np.where(ok, s, -np.inf)  # an image with no face fails every comparison
    same = (identities[:, None] == identities[None, :])[iu]
    genuine, impostor = s[same], s[~same]
    finite_min = np.min(s[np.isfinite(s)]) - 1 if np.isfinite(s).any() else -2.0
    gen_f = np.where(np.isfinite(genuine), genuine, finite_min)
    imp_f = np.where(np.isfinite(impostor), impostor, finite_min)
    return {
        "genuine_pairs": int(len(genuine)),
        "impostor_pairs": int(len(impostor)),
        "auc": round(_auc(gen_f, imp_f), 6) if len(genuine) and len(impostor) else None,
        "tar_at_far": {str(f): _round(_tar_at_far(gen_f, imp_f, f)) for f in FARS},
    }


def _round(x: float | None, nd: int = 4) -> float | None:
    return None if x is None else round(x, nd)


def _identification_roles(folder: Any) -> tuple[dict[str, list[int]], list[int], list[int]]:
    """Image indices by role: the gallery per identity, the probes, the distractor probes."""
    index_of = {img.rel: i for i, img in enumerate(folder.images)}
    gallery: dict[str, list[int]] = defaultdict(list)
    probes, distractors = [], []
    for rel, identity, role in folder.ident:
        if rel not in index_of:
            continue
        i = index_of[rel]
        if role == "gallery":
            gallery[identity].append(i)
        elif role == "probe":
            probes.append(i)
        elif role == "distractor_probe":
            distractors.append(i)
    return gallery, probes, distractors


def _enroll_gallery(service, folder, gallery: dict[str, list[int]]) -> int:  # noqa: ANN001
    """Enroll every gallery identity as `imint enroll` would; the number of problems reported."""
    enroll_problems = 0
    for identity, idxs in gallery.items():
        rules = {folder.images[i].labelled_face_rule for i in idxs}
        try:
            r = service.enroll(
                identity,
                [folder.images[i].path for i in idxs],
                face_choice="center" if rules == {"center"} else "largest",
            )
            enroll_problems += len(r.problems)
        except ImintError:
            enroll_problems += 1
    return enroll_problems


def _exact_rates(
    service: Any,
    folder: Any,
    emb: np.ndarray,
    reasons: list[str],
    found: np.ndarray,
    probes: list[int],
    distractors: list[int],
) -> dict[str, Any]:
    """Rank-1 and FNIR at each FPIR from exact per-person best scores (no operating point)."""
    persons = {p["name"]: p["id"] for p in service.list_persons()}
    ref_ids, ref_person, ref_vecs = service.reference_vectors()
    person_ids = np.array(sorted(set(ref_person.tolist())))

    def best_per_person(rows: list[int]) -> np.ndarray:
        out = np.full((len(rows), len(person_ids)), -np.inf)
        if not rows or not len(person_ids):
            return out
        s = emb[rows] @ ref_vecs.T
        for j, pid in enumerate(person_ids):
            out[:, j] = s[:, ref_person == pid].max(1)
        usable = np.array([found[i] and not is_poor(reasons[i]) for i in rows])
        out[~usable] = -np.inf  # no face, or a flagged face: never matched automatically
        return out

    probe_scores = best_per_person(probes)
    distractor_scores = best_per_person(distractors)
    identity_of = np.array([folder.images[i].identity for i in probes])
    true_col = np.array([np.searchsorted(person_ids, persons.get(name, -1)) for name in identity_of])
    true_col = np.where(
        np.array([persons.get(name, -1) in set(person_ids.tolist()) for name in identity_of]), true_col, -1
    )
    rank1 = (
        float(
            np.mean(
                [
                    true_col[k] >= 0
                    and np.isfinite(probe_scores[k]).any()
                    and probe_scores[k].argmax() == true_col[k]
                    for k in range(len(probes))
                ]
            )
        )
        if probes
        else None
    )
    true_score = np.array(
        [probe_scores[k, true_col[k]] if true_col[k] >= 0 else -np.inf for k in range(len(probes))]
    )
    d_max = np.sort(distractor_scores.max(1) if len(person_ids) else np.full(len(distractors), -np.inf))[::-1]
    fnir = {}
    for f in FPIRS:
        if len(d_max) * f < 1:
            fnir[str(f)] = None
            continue
        threshold = d_max[int(f * len(d_max))]
        fnir[str(f)] = round(float(1 - np.mean(true_score > threshold)), 4)
    return {
        "enrolled_persons": len(person_ids),
        "reference_faces": int(len(ref_ids)),
        "rank1": _round(rank1),
        "fnir_at_fpir": fnir,
    }


def _operating_point_rates(
    service: Any,
    folder: Any,
    emb: np.ndarray,
    quality: np.ndarray,
    reasons: list[str],
    found: np.ndarray,
    probes: list[int],
    distractors: list[int],
) -> dict[str, Any]:
    """FNIR and FPIR at the engine's own default operating point, through the product's matcher,
    and the FPIR seen at the other check points."""

    def decisions(rows: list[int], fpir: float = DEFAULT_FPIR) -> list[str | None]:
        usable_rows = [i for i in rows if found[i]]
        # As `imint search` decides: its default candidate list, the first above the operating point.
        cands = service.match_faces(
            emb[usable_rows],
            quality[usable_rows],
            [reasons[i] for i in usable_rows],
            fpir=fpir,
            k=DEFAULT_TOP_K,
        )
        got: dict[int, str | None] = {i: None for i in rows}
        for i, c in zip(usable_rows, cands, strict=True):
            best = identified_as(c)
            got[i] = best.person_name if best else None
        return [got[i] for i in rows]

    probe_hits = decisions(probes)
    distractor_hits = decisions(distractors)
    fnir_default = float(
        np.mean([h != folder.images[i].identity for i, h in zip(probes, probe_hits, strict=True)])
    )
    heldout = [k for k, i in enumerate(distractors) if not _fitted_on(service, folder.images[i].identity)]
    fpir_all = float(np.mean([h is not None for h in distractor_hits])) if distractors else None
    fpir_heldout = float(np.mean([distractor_hits[k] is not None for k in heldout])) if heldout else None
    checked = heldout if heldout else list(range(len(distractors)))
    fpir_hits = sum(distractor_hits[k] is not None for k in checked)
    # The same searches at other operating points: does the asked FPIR hold on this folder?
    checked_rows = [distractors[k] for k in checked]
    fpir_check = {}
    for f in CHECK_FPIRS:
        if f == DEFAULT_FPIR:  # searched above already
            hits = fpir_hits
        else:
            hits = sum(h is not None for h in decisions(checked_rows, f)) if checked_rows else 0
        fpir_check[str(f)] = _rate(hits, len(checked_rows), "searches")
    return {
        "default_operating_point": f"fpir={DEFAULT_FPIR:g}",
        "fpir_at_default": _round(fpir_heldout if fpir_heldout is not None else fpir_all),
        "fpir_at_default_scope": "distractor identities the calibration was not fitted on"
        if fpir_heldout is not None
        else "all distractors",
        "fpir_at_default_heldout_probes": len(heldout),
        "fpir_at_default_hits": int(fpir_hits),
        "fpir_at_default_ci95": _clopper_pearson(fpir_hits, len(checked)),
        "fpir_at_default_all_distractors": _round(fpir_all),
        "fnir_at_default": round(fnir_default, 4),
        "fpir_check": fpir_check,
    }


def _identification(service, ws, folder, emb, quality, reasons, found, face_id) -> dict[str, Any]:  # noqa: ANN001
    gallery, probes, distractors = _identification_roles(folder)
    enroll_problems = _enroll_gallery(service, folder, gallery)
    exact = _exact_rates(service, folder, emb, reasons, found, probes, distractors)
    at_point = _operating_point_rates(service, folder, emb, quality, reasons, found, probes, distractors)
    # The keys in the order the report has always listed them.
    return {
        "enrolled_persons": exact["enrolled_persons"],
        "gallery_images": int(sum(len(v) for v in gallery.values())),
        "reference_faces": exact["reference_faces"],
        "enroll_problems": enroll_problems,
        "probes": len(probes),
        "distractor_probes": len(distractors),
        "rank1": exact["rank1"],
        "fnir_at_fpir": exact["fnir_at_fpir"],
        **at_point,
    }


def _clopper_pearson(hits: int, n: int, level: float = 0.95) -> list[float] | None:
    """Exact binomial interval for a rate seen as ``hits`` of ``n``: with a few hundred
    distractors one hit more or less moves the FPIR by half a percent, and the reader
    should see how much the figure could move by chance alone."""
    if n == 0:
        return None
    alpha = 1 - level
    lo = 0.0 if hits == 0 else float(beta.ppf(alpha / 2, hits, n - hits + 1))
    hi = 1.0 if hits == n else float(beta.ppf(1 - alpha / 2, hits + 1, n - hits))
    return [float(f"{lo:.4g}"), float(f"{hi:.4g}")]  # significant digits: rates span 1e-6 to 1


def _rate(hits: int, n: int, unit: str) -> dict[str, Any]:
    return {
        "observed": round(hits / n, 6) if n else None,
        unit: int(n),
        "hits": int(hits),
        "ci95": _clopper_pearson(hits, n),
    }


def _calibration_check(service, emb, quality, reasons, found, identities) -> dict[str, Any]:  # noqa: ANN001
    """Asked against seen: the false-match rate of different-person pairs at the calibrated
    1:1 thresholds, on the people the calibration was not fitted on (``fpir`` is added from
    the identification searches)."""
    cal = service.engine.calibration
    use = np.array(
        [
            f and not is_poor(r) and not _fitted_on(service, str(i))
            for f, r, i in zip(found, reasons, identities, strict=True)
        ],
        dtype=bool,
    )
    idx = np.flatnonzero(use)
    iu = np.triu_indices(len(idx), 1)
    scores = (emb[idx] @ emb[idx].T)[iu]
    impostor = (identities[idx][:, None] != identities[idx][None, :])[iu]
    # Thresholds depend only on the pair of quality bins: one per bin pair present.
    face_bin = np.array([QUALITY_BINS.index(quality_bin(float(q))) for q in quality[idx]], dtype=np.int64)
    pair = (face_bin[:, None] * len(QUALITY_BINS) + face_bin[None, :])[iu]
    example = {b: float(quality[idx][np.argmax(face_bin == b)]) for b in set(face_bin.tolist())}
    # Pairs share people, so they are not independent trials: the interval comes from
    # resampling people (a pair's two people carry it), not from a binomial over pairs.
    people, person = np.unique(identities[idx], return_inverse=True)
    if len(people) < 2:  # no different-person pair to check on
        return {
            "scope": "identities the calibration was not fitted on",
            "identities": int(len(people)),
            "fmr": {str(f): _rate(0, 0, "pairs") for f in CHECK_FMRS},
        }
    pa, pb = person[iu[0]][impostor], person[iu[1]][impostor]
    pairs_between = np.zeros((len(people), len(people)))
    np.add.at(pairs_between, (pa, pb), 1)
    rng = np.random.default_rng(0)
    weights = rng.multinomial(len(people), np.full(len(people), 1 / len(people)), size=BOOTSTRAP_ROUNDS)
    boot_pairs = np.einsum("ri,ij,rj->r", weights, pairs_between, weights)
    fmr = {}
    for f in CHECK_FMRS:
        thresholds = np.full(len(QUALITY_BINS) ** 2, np.inf)
        for a in example:
            for b in example:
                thresholds[a * len(QUALITY_BINS) + b] = cal.threshold_for_fmr(f, example[a], example[b])
        hit = scores[impostor] >= thresholds[pair[impostor]]
        hits_between = np.zeros_like(pairs_between)
        np.add.at(hits_between, (pa[hit], pb[hit]), 1)
        boot = np.einsum("ri,ij,rj->r", weights, hits_between, weights) / np.maximum(boot_pairs, 1)
        rate = _rate(int(hit.sum()), int(impostor.sum()), "pairs")
        lo, hi = np.percentile(boot, [2.5, 97.5])
        exact = rate["ci95"] or [0.0, 1.0]  # a bootstrap of zero hits is [0, 0]: keep the exact bound
        rate["ci95"] = [float(f"{min(lo, exact[0]):.4g}"), float(f"{max(hi, exact[1]):.4g}")]
        fmr[str(f)] = rate
    return {
        "scope": "identities the calibration was not fitted on",
        "identities": int(len(people)),
        "fmr": fmr,
        "fmr_interval": f"95 %: the wider of a bootstrap over people ({BOOTSTRAP_ROUNDS} rounds) and the exact binomial",
        "fpir_interval": "exact binomial (Clopper-Pearson) over distractor searches",
    }


def calibration_plot(report: dict[str, Any], path: str | Path) -> Path:
    """Asked against seen error rates, 1:1 and 1:N, with exact 95 % intervals (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    check = report["calibration"]
    panels = [("fmr", "1:1 false-match rate", "pairs")]
    if "fpir" in check:
        panels.append(("fpir", "1:N false-positive identification rate", "searches"))
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    for ax, (key, title, unit) in zip(axes[0], panels, strict=True):
        asked = np.array([float(k) for k in check[key]])
        rows = list(check[key].values())
        n = max(r[unit] for r in rows) if rows else 0
        floor = 0.5 / max(n, 1)  # where a rate of zero is drawn
        seen = np.array([max(r["observed"] or 0.0, floor) for r in rows])
        lo = np.minimum(seen, [max(r["ci95"][0], floor) if r["ci95"] else floor for r in rows])
        hi = np.maximum(seen, [r["ci95"][1] if r["ci95"] else floor for r in rows])
        span = [min(asked.min(), floor) / 2, max(asked.max(), hi.max()) * 2]
        ax.plot(span, span, color="0.6", lw=1, ls="--", label="seen = asked")
        zero = np.array([r["hits"] == 0 for r in rows])
        for sel, marker, colour, label in (
            (~zero, "o", "#1f5fa8", "seen, with 95 % interval"),
            (zero, "v", "#c0392b", "none seen (drawn at the floor), with 95 % interval"),
        ):
            if sel.any():
                ax.errorbar(
                    asked[sel].tolist(),
                    seen[sel].tolist(),
                    yerr=np.vstack([seen[sel] - lo[sel], hi[sel] - seen[sel]]),
                    fmt=marker,
                    color=colour,
                    capsize=3,
                    label=label,
                )
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(span)
        ax.set_ylim(span)
        ax.set_xlabel("asked (operating point)")
        ax.set_ylabel("seen on this folder")
        ax.set_title(f"{title}\n{n} {unit}", fontsize=10)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle(
        f"Calibration check: {report['dataset']} ({check['identities']} people it was not fitted on)",
        fontsize=10,
    )
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _fitted_on(service, identity: str) -> bool:  # noqa: ANN001
    """Whether the committed calibration used ``identity``. A table that does not record its
    identities was fitted by the development split rule, so fall back to that rule."""
    used = service.engine.calibration.was_fitted_on(identity)
    return in_fit_half(identity) if used is None else used


def _clustering(service, emb, quality, reasons, found, identities) -> dict[str, Any]:  # noqa: ANN001
    use = np.array([f and not is_poor(r) for f, r in zip(found, reasons, strict=True)])
    idx = np.flatnonzero(use)
    labels = cluster_embeddings(emb[idx], quality[idx], service.engine.calibration, fmr=DEFAULT_CLUSTER_FMR)
    truth = identities[idx]
    iu = np.triu_indices(len(idx), 1)
    same_pred = (labels[:, None] == labels[None, :])[iu]
    same_true = (truth[:, None] == truth[None, :])[iu]
    tp = int(np.sum(same_pred & same_true))
    return {
        "faces_clustered": int(len(idx)),
        "clusters": int(labels.max() + 1) if len(labels) else 0,
        "identities": int(len(set(truth.tolist()))),
        "operating_point": f"fmr={DEFAULT_CLUSTER_FMR:g}",
        "pairwise_precision": round(tp / max(int(same_pred.sum()), 1), 4),
        "pairwise_recall": round(tp / max(int(same_true.sum()), 1), 4),
    }


def print_report(report: dict[str, Any], console: Console) -> None:
    table = Table(title=f"Face evaluation: {report['dataset']} ({report['model']})")
    table.add_column("metric")
    table.add_column("value", justify="right")

    def row(name: str, value: Any) -> None:
        table.add_row(
            name, "n/a" if value is None else f"{value:.4f}" if isinstance(value, float) else str(value)
        )

    row("images", report["images"])
    row("faces found (labelled)", report["faces_found"])
    v = report["verification"]
    row("verification pairs (genuine / impostor)", f"{v['genuine_pairs']} / {v['impostor_pairs']}")
    row("AUC", v["auc"])
    for far, tar in v["tar_at_far"].items():
        row(f"TAR at FAR {far}", tar)
    if "identification" in report:
        i = report["identification"]
        row("enrolled persons / reference faces", f"{i['enrolled_persons']} / {i['reference_faces']}")
        row("rank-1 (closed set)", i["rank1"])
        for fpir, fnir in i["fnir_at_fpir"].items():
            row(f"FNIR at FPIR {fpir}", fnir)
        fpir = i["fpir_at_default"]
        if fpir is not None and i.get("fpir_at_default_ci95"):
            lo, hi = i["fpir_at_default_ci95"]
            n = i["fpir_at_default_heldout_probes"] or i["distractor_probes"]
            fpir = f"{fpir:.4f} ({i['fpir_at_default_hits']} of {n}; 95 % CI {lo:.4f}–{hi:.4f})"
        row(f"FPIR at default ({i['default_operating_point']})", fpir)
        row("FNIR at default", i["fnir_at_default"])
    cal = report.get("calibration")
    if cal:
        for key, name, unit in (("fmr", "FMR", "pairs"), ("fpir", "FPIR", "searches")):
            for asked, r in cal.get(key, {}).items():
                if r["observed"] is not None:
                    row(
                        f"calibration: {name} asked {asked}, seen",
                        f"{r['observed']:.4g} ({r['hits']} of {r[unit]})",
                    )
    c = report["clustering"]
    row("clustering pairwise precision", c["pairwise_precision"])
    row("clustering pairwise recall", c["pairwise_recall"])
    row("seconds", report["seconds"])
    row("faces per second", report["faces_per_second"])
    console.print(table)
