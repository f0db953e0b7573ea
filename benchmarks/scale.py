"""Face search and clustering at collection scale, on synthetic vectors shaped like the engine's.

    PYTHONPATH=src .venv/bin/python benchmarks/embed_dev.py ../shared/data/faces /tmp/scale/faces.npz  # once
    PYTHONPATH=src .venv/bin/python benchmarks/scale.py --faces 100000 --fit-vectors /tmp/scale/faces.npz \
        --json /tmp/scale-100k.json
    PYTHONPATH=src .venv/bin/python benchmarks/scale.py --faces 100000 --fit-vectors /tmp/scale/faces.npz \
        --compare-indexes                                  # the faiss options of INDEX_OPTIONS
    PYTHONPATH=src .venv/bin/python benchmarks/scale.py --faces 100000 --shape isotropic   # the old generator
    PYTHONPATH=src .venv/bin/python benchmarks/scale.py --faces 1000000 --fit-vectors /tmp/scale/faces.npz \
        --no-index --threads 2 --json /tmp/scale-1m-cluster.json   # clustering only (wall, CPU s, peak RSS)

``--shape fitted`` (default) draws vectors from ``engine_shape.py``: identity centres and within-identity
noise with the covariances of real engine vectors, fitted at run time (docs/scale.md compares them).
The isotropic generator below is the first rounds' and is kept for comparison.

The peer is exact flat search (faiss ``IndexFlatIP``) over the same vectors in the
same run: recall@10 is measured against it and its single-query latency is reported.

Isotropic vectors (``synthetic_faces``): the engine's fused vector is two L2-normalised
128-d halves (SFace, dlib) concatenated. Each half of a face is
``normalise(sqrt(G) m + sqrt(A) c_person + sqrt(E_q) noise)`` with ``m`` a direction
shared by everyone (real embeddings are not centred: strangers score above 0),
``c_person`` a random unit vector per person and per half, and noise whose weight
grows as the face's quality falls. G, A and E were chosen so that the share of
stranger pairs and of same-person pairs below the clustering cut (calibrated FMR
1e-3) match the engine's on the DEV faces. (The raw score moments cannot all match:
the engine's stranger scores are more concentrated, std 0.052, than random 128-d
halves allow, about 0.12; so the synthetic strangers have a heavier tail.) People's photo counts follow the DEV set's histogram (about half the
people with one photo, up to 17). Qualities follow the DEV set's bins.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from imint.faces.calibration import load_calibration
from imint.faces.collection_index import CollectionIndex
from imint.faces.engine import DEFAULT_MODEL
from imint.faces.graph_cluster import cluster_embeddings

HALF = 128
# Photos per person on the DEV set (README of /work/shared/data/faces): count -> people.
PHOTOS_PER_PERSON = {1: 253, 2: 94, 3: 38, 4: 22, 5: 18, 6: 9, 7: 7, 8: 23, 9: 1, 14: 1, 17: 1}
# Weights of the shared direction, the person and the noise in each half (at quality 1; the
# noise grows as quality falls). Fitted so that, under the committed calibration, the share of
# stranger pairs below the clustering cut (FMR 1e-3) and of same-person pairs below it match the
# DEV faces: synthetic 8.7e-4 and 1.000 against DEV 1.2e-3 and 0.996 (docs/scale.md).
SHARED, PERSON, NOISE = 0.13, 0.40, 0.47
QUALITY_SHARES = {"low": (0.15, 0.35), "medium": (0.55, 0.65), "high": (0.30, 0.9)}


def synthetic_faces(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vectors (n, 256) float32, person (n,), quality (n,))`` as described above."""
    rng = np.random.default_rng(seed)
    counts = np.array(list(PHOTOS_PER_PERSON))
    weights = np.array(list(PHOTOS_PER_PERSON.values()), float)
    sizes = rng.choice(counts, size=n, p=weights / weights.sum())  # more than enough people
    person = np.repeat(np.arange(len(sizes)), sizes)[:n]
    n_people = int(person.max()) + 1
    quality = np.empty(n, np.float32)
    shares = np.array([s for s, _ in QUALITY_SHARES.values()])
    bin_of = rng.choice(len(shares), size=n, p=shares / shares.sum())
    for b, (_, centre) in enumerate(QUALITY_SHARES.values()):
        quality[bin_of == b] = np.clip(rng.normal(centre, 0.08, (bin_of == b).sum()), 0.0, 1.0)
    vectors = np.empty((n, 2 * HALF), np.float32)
    noise_weight = NOISE * (1.6 - 0.6 * quality)  # a low-quality face is noisier
    for h in range(2):
        shared = _unit(rng.normal(size=HALF))
        centres = _unit(rng.normal(size=(n_people, HALF)).astype(np.float32))
        for start in range(0, n, 65536):
            sl = slice(start, min(n, start + 65536))
            m = sl.stop - sl.start
            noise = _unit(rng.normal(size=(m, HALF)).astype(np.float32))
            v = (
                np.sqrt(SHARED) * shared[None, :]
                + np.sqrt(PERSON) * centres[person[sl]]
                + np.sqrt(noise_weight[sl])[:, None] * noise
            )
            vectors[sl, h * HALF : (h + 1) * HALF] = _unit(v)
    return vectors, person, quality


Generator = Callable[[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]]


def generator(shape: str, fit_vectors: Path | None) -> Generator:
    """``faces(n, seed)`` of the chosen shape: ``fitted`` (benchmarks/engine_shape.py, fitted at run time
    to real engine vectors) or ``isotropic`` (``synthetic_faces`` above, the first rounds' generator)."""
    if shape == "isotropic":
        return synthetic_faces
    if fit_vectors is None or not fit_vectors.exists():
        raise SystemExit(
            f"--shape fitted needs --fit-vectors (an embedding dump of ../shared/data/faces made by "
            f"benchmarks/embed_dev.py); {fit_vectors} does not exist"
        )
    from engine_shape import fit, load_vectors

    return fit(*load_vectors(fit_vectors)).faces


def _collection_and_queries(
    n: int, n_queries: int, seed: int, faces: Generator = synthetic_faces
) -> tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """``n`` collection faces and two query sets drawn from the same generator, left out of it:
    ``realistic``, another photo of a person with photos in the collection (what `find` is asked),
    and ``stranger``, a face of someone with no photo in the collection."""
    extra = 3 * n_queries + 32
    vectors, person, quality = faces(n + extra, seed)
    rng = np.random.default_rng(seed + 1)
    counts = np.bincount(person)
    in_tail = np.flatnonzero(np.bincount(person[: n + n_queries], minlength=len(counts)) == 0)
    stranger_rows = np.flatnonzero(np.isin(person, in_tail))
    take = np.unique(person[stranger_rows[:n_queries]])
    out = np.isin(person, take)  # every photo of a stranger stays out of the collection
    stranger = np.flatnonzero(out)[:n_queries]
    eligible = np.flatnonzero(~out[:n] & (counts[person[:n]] >= 2))
    realistic = rng.choice(eligible, n_queries, replace=False)
    out[realistic] = True
    keep = np.flatnonzero(~out)[:n]
    queries = {"realistic": vectors[realistic], "stranger": vectors[stranger]}
    return vectors[keep], person[keep], quality[keep], queries


def _unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


class PeakRSS:
    """Peak resident memory of this process while the block runs (sampled every 50 ms)."""

    def __enter__(self) -> PeakRSS:
        self.peak = self.start = _rss()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, _rss())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss())


def _rss() -> int:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _latencies(search, queries: np.ndarray) -> np.ndarray:  # noqa: ANN001
    out = np.empty(len(queries))
    for i, q in enumerate(queries):
        t = time.perf_counter()
        search(q[None, :])
        out[i] = (time.perf_counter() - t) * 1000
    return out


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    hits = [len(set(a.tolist()) & set(e.tolist())) / len(e) for a, e in zip(approx, exact, strict=True)]
    return float(np.mean(hits))


def _pairwise(labels: np.ndarray, truth: np.ndarray) -> tuple[float, float]:
    """Pairwise precision/recall (as evaluate.py) from the contingency table, without N^2 pairs."""

    def pairs(counts: np.ndarray) -> float:
        return float((counts * (counts - 1) / 2).sum())

    joint = np.unique(labels.astype(np.int64) * (int(truth.max()) + 1) + truth, return_counts=True)[1]
    tp = pairs(joint)
    pred = pairs(np.unique(labels, return_counts=True)[1])
    true = pairs(np.unique(truth, return_counts=True)[1])
    return tp / max(pred, 1), tp / max(true, 1)


def run(
    n: int,
    n_queries: int,
    seed: int,
    do_cluster: bool,
    console: Console,
    partial: Path | None = None,
    faces: Generator = synthetic_faces,
    do_index: bool = True,
) -> dict:
    import faiss

    load_at_start = [round(x, 2) for x in os.getloadavg()]
    t = time.perf_counter()
    vectors, person, quality, queries = _collection_and_queries(n, n_queries, seed, faces)
    gen_s = time.perf_counter() - t
    cal = load_calibration(DEFAULT_MODEL)
    # What `imint find` keeps: scores above the threshold of FPIR 0.01 over the whole collection
    # (the comparison FMR for n faces; at high+high quality, the loosest bins' pair).
    find_threshold = cal.threshold_for_fpir(0.01, 0.8, n, 0.8)

    if not do_index:
        report = {
            "faces": n,
            "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
            "load_average_at_start": load_at_start,
            "faiss_threads": faiss.omp_get_max_threads(),
            "synthetic_seconds": round(gen_s, 1),
            "index": None,
            "index_reason": "--no-index: clustering only",
            "exact_query_p50_ms": None,
            "ingest": None,
            "ingest_reason": "ingest throughput is measured by the ingest path's own benchmark (imint ingest)",
        }
        console.log(f"{n:,} synthetic faces in {gen_s:.0f} s; clustering")
        report["cluster"] = _cluster(vectors, person, quality, cal, console)
        report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
        report["process_peak_rss_gb"] = round(
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 3
        )
        _print(report, console)
        return report
    base = _rss()
    console.log(f"{n:,} synthetic faces in {gen_s:.0f} s; building the index")
    t = time.perf_counter()
    index = CollectionIndex.build(np.arange(n), vectors, exact_below=0)  # always the graph: what is measured
    build_s = time.perf_counter() - t
    index_rss = _rss() - base
    console.log(f"index built in {build_s:.0f} s; measuring queries")
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)  # every latency below is one query on one thread, as one `find`
    exact_lat = _latencies(lambda q: exact.search(q, 10), queries["realistic"][:50])
    by_kind = {}
    for kind, qs in queries.items():
        lat = _latencies(lambda q: index.search(q, 10), qs)
        _, approx_ids = index.search(qs, 10)
        exact_scores, exact_ids = exact.search(qs, 10)
        strong = exact_scores >= find_threshold
        found = np.array(
            [np.isin(e[m], a).sum() for a, e, m in zip(approx_ids, exact_ids, strong, strict=True)]
        )
        sweep = []
        for ef in (64, 128, 256, 512, 1024, 2048):
            lat_ef = _latencies(lambda q, ef=ef: index.search(q, 10, ef_search=ef), qs[:300])
            _, ids = index.search(qs, 10, ef_search=ef)
            sweep.append(
                {
                    "ef_search": ef,
                    "p50_ms": round(float(np.percentile(lat_ef, 50)), 3),
                    "p95_ms": round(float(np.percentile(lat_ef, 95)), 3),
                    "recall_at_10": round(_recall(ids, exact_ids), 4),
                }
            )
        by_kind[kind] = {
            "queries": len(qs),
            "query_p50_ms": round(float(np.percentile(lat, 50)), 3),
            "query_p95_ms": round(float(np.percentile(lat, 95)), 3),
            "recall_at_10_vs_exact": round(_recall(approx_ids, exact_ids), 4),
            "exact_top10_above_find_threshold": int(strong.sum()),
            "recall_above_find_threshold": round(float(found.sum() / max(strong.sum(), 1)), 4),
            "ef_search_sweep": sweep,
        }
        console.log(f"{kind} queries: {by_kind[kind]}")
    exact.reset()  # free its copy of the vectors before clustering
    faiss.omp_set_num_threads(threads)
    real = by_kind["realistic"]
    report: dict = {
        "faces": n,
        "machine": f"{platform.machine()}, {os.cpu_count()} cpus",
        "load_average_at_start": load_at_start,
        "faiss_threads": faiss.omp_get_max_threads(),
        "synthetic_seconds": round(gen_s, 1),
        "index": {
            "kind": index.kind,
            "build_s": round(build_s, 2),
            "query_p50_ms": real["query_p50_ms"],
            "query_p95_ms": real["query_p95_ms"],
            "recall_at_10_vs_exact": real["recall_at_10_vs_exact"],
            "memory_gb": round(index.memory_bytes() / 1e9, 3),
            "rss_growth_gb": round(index_rss / 1e9, 3),
            "find_threshold_score": round(float(find_threshold), 4),
            "queries": by_kind,
            "note": "top-level figures are the realistic queries (a new photo of a person in the collection)",
        },
        "exact_query_p50_ms": round(float(np.percentile(exact_lat, 50)), 3),
        "ingest": None,
        "ingest_reason": "ingest throughput is measured by the ingest path's own benchmark (imint ingest)",
    }
    if partial is not None:  # the index half of the report, kept if the clustering is interrupted
        partial.write_text(json.dumps(dict(report, cluster="running"), indent=2))
    console.log(f"index measured: {report['index']}")
    if do_cluster:
        report["cluster"] = _cluster(vectors, person, quality, cal, console)
    report["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()]
    report["process_peak_rss_gb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e9, 3)
    _print(report, console)
    return report


def _cluster(vectors: np.ndarray, person: np.ndarray, quality: np.ndarray, cal, console: Console) -> dict:  # noqa: ANN001
    """The product's graph clustering of every face: k-NN graph + graph clustering (no index built here:
    the k-NN graph is its own, ``graph_cluster.knn_edges``), wall and CPU seconds, peak RSS."""
    load = [round(x, 2) for x in os.getloadavg()]
    stats: dict = {}
    with PeakRSS() as peak:
        t, cpu = time.perf_counter(), time.process_time()
        labels = cluster_embeddings(vectors, quality, cal, stats=stats)
        seconds, cpu_seconds = time.perf_counter() - t, time.process_time() - cpu
    console.log(f"clustered in {seconds:.0f} s wall, {cpu_seconds:.0f} s CPU: {stats}")
    precision, recall = _pairwise(labels, person)
    return {
        "seconds": round(seconds, 1),
        "cpu_seconds": round(cpu_seconds, 1),
        "peak_gb": round(peak.peak / 1e9, 3),
        "rss_before_gb": round(peak.start / 1e9, 3),
        "clusters": int(labels.max() + 1),
        "people": int(person.max() + 1),
        "pairwise_precision": round(precision, 4),
        "pairwise_recall": round(recall, 4),
        "steps": stats,
        "load_average_at_start": load,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
        "includes": "k-NN graph (k-means cells + blocked exact scores) and the graph clustering; "
        "not the synthetic generation, not the collection index",
    }


# Index options measured by --compare-indexes: (name, faiss factory string, search parameter, values,
# shortlist re-scored exactly from the stored float vectors). ``{nlist}`` is 4 sqrt(N) lists.
INDEX_OPTIONS: dict[str, tuple[str, str, tuple[int, ...], int]] = {
    "hnsw32-flat": ("HNSW32,Flat", "efSearch", (64, 128, 256, 512), 40),
    "hnsw32-flat-efc200": ("HNSW32,Flat", "efSearch", (64, 128, 256, 512, 1024), 40),
    "hnsw48-flat-efc200": ("HNSW48,Flat", "efSearch", (64, 128, 256, 512), 40),
    "hnsw32-sq8": ("HNSW32,SQ8", "efSearch", (128, 256, 512, 1024), 100),
    "hnsw32-sq8-efc200": ("HNSW32,SQ8", "efSearch", (64, 128, 256, 512), 100),
    "pca64-hnsw32": ("PCA64,HNSW32,Flat", "efSearch", (128, 256, 512), 200),
    "hnsw32-sq8-efc80": ("HNSW32,SQ8", "efSearch", (256, 512, 1024), 100),
    "hnsw48-sq8": ("HNSW48,SQ8", "efSearch", (256, 512, 1024, 2048), 100),
    "pca128-hnsw32": ("PCA128,HNSW32,Flat", "efSearch", (256, 512, 1024), 300),
    "pca128-hnsw32-sq8": ("PCA128,HNSW32,SQ8", "efSearch", (256, 512, 1024), 300),
    "ivf-flat": ("IVF{nlist},Flat", "nprobe", (8, 16, 32, 64), 40),
    "ivf-sq8": ("IVF{nlist},SQ8", "nprobe", (16, 32, 64), 100),
    "ivf-pq32": ("IVF{nlist},PQ32", "nprobe", (16, 32, 64), 200),
    # Brute force over 4-bit product-quantizer codes (faiss fast scan: 32 B a face, scanned in SIMD
    # registers), the shortlist re-scored exactly; the parameter is the shortlist size.
    "pq64x4fs": ("PQ64x4fs", "shortlist", (500, 1000, 2000, 4000, 8000), 0),
    "pq32x4fs": ("PQ32x4fs", "shortlist", (1000, 2000, 4000), 0),
    "ivf-pq64x4fs": ("IVF{nlist},PQ64x4fs", "nprobe", (64, 128, 256), 2000),
}


def compare_indexes(
    n: int, n_queries: int, seed: int, faces: Generator, options: list[str], console: Console
) -> dict:
    """Each option's build time, memory, and recall@10 (after the exact re-score) / one-thread p50."""
    import faiss

    vectors, _, _, queries = _collection_and_queries(n, n_queries, seed, faces)
    build_threads = faiss.omp_get_max_threads()
    exact = faiss.IndexFlatIP(vectors.shape[1])
    exact.add(vectors)
    truth = {kind: exact.search(qs, 10)[1] for kind, qs in queries.items()}
    faiss.omp_set_num_threads(1)
    exact_lat = _latencies(lambda q: exact.search(q, 10), queries["realistic"][:100])
    faiss.omp_set_num_threads(build_threads)
    exact.reset()
    rows = []
    for name in options:
        spec, param, values, short = INDEX_OPTIONS[name]
        nlist = max(16, int(4 * np.sqrt(n)))
        base = _rss()
        t = time.perf_counter()
        index = faiss.index_factory(vectors.shape[1], spec.format(nlist=nlist), faiss.METRIC_INNER_PRODUCT)
        efc = None
        if "HNSW" in spec:
            efc = int(name.rsplit("efc", 1)[1]) if "efc" in name else 40  # efConstruction
            inner = faiss.downcast_index(index.index) if "PCA" in spec else index
            inner.hnsw.efConstruction = efc
        if not index.is_trained:
            index.train(vectors[np.random.default_rng(seed).choice(n, min(n, 100 * nlist, 200_000), False)])
        index.add(vectors)
        build_s = time.perf_counter() - t
        grown = _rss() - base
        faiss.omp_set_num_threads(1)  # what one `find` query gets
        for value in values:
            if param == "shortlist":
                short = value
            else:
                faiss.ParameterSpace().set_index_parameter(index, param, value)

            def search(q: np.ndarray, index=index, short=short) -> np.ndarray:  # noqa: ANN001
                _, cand = index.search(q, short)
                exact_scores = np.einsum("qd,qkd->qk", q, vectors[np.maximum(cand, 0)])
                exact_scores[cand < 0] = -np.inf
                return np.take_along_axis(cand, np.argsort(-exact_scores, axis=1)[:, :10], axis=1)

            row = {
                "index": name,
                "efConstruction": efc,
                "factory": spec.format(nlist=nlist),
                param: value,
                "rescored": short,
                "build_s": round(build_s, 1),
                "rss_growth_gb": round(grown / 1e9, 3),
            }
            for kind, qs in queries.items():
                lat = _latencies(search, qs[:200])
                row[f"{kind}_p50_ms"] = round(float(np.percentile(lat, 50)), 3)
                row[f"{kind}_recall_at_10"] = round(_recall(search(qs), truth[kind]), 4)
            console.log(row)
            rows.append(row)
        faiss.omp_set_num_threads(build_threads)
        del index
    table = Table(title=f"Index options, {n:,} faces (recall@10 after the exact re-score; p50 on 1 thread)")
    cols = [
        "index",
        "efSearch/nprobe",
        "rescored",
        "build_s",
        "rss_growth_gb",
        "realistic_recall_at_10",
        "realistic_p50_ms",
        "stranger_recall_at_10",
        "stranger_p50_ms",
    ]
    for col in cols:
        table.add_column(col)
    for r in rows:
        table.add_row(*(str(r.get(c, r.get("efSearch", r.get("nprobe")))) for c in cols))
    console.print(table)
    return {
        "faces": n,
        "exact_query_p50_ms": round(float(np.percentile(exact_lat, 50)), 3),
        "options": rows,
        "load_average_at_end": [round(x, 2) for x in os.getloadavg()],
    }


def _print(report: dict, console: Console) -> None:
    table = Table(title=f"Collection scale: {report['faces']:,} synthetic faces")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for section in ("index", "cluster"):
        for key, value in (report.get(section) or {}).items():
            if key == "queries":
                for kind, fig in value.items():
                    sweep = ", ".join(
                        f"ef {r['ef_search']}: {r['p50_ms']} ms, R@10 {r['recall_at_10']}"
                        for r in fig["ef_search_sweep"]
                    )
                    summary = {k: v for k, v in fig.items() if k != "ef_search_sweep"}
                    table.add_row(f"index.{kind} queries", f"{summary}; {sweep}")
                continue
            table.add_row(f"{section}.{key}", str(value))
    table.add_row("exact_query_p50_ms (flat peer)", str(report["exact_query_p50_ms"]))
    table.add_row("ingest", f"null: {report['ingest_reason']}")
    table.add_row(
        "load average start / end", f"{report['load_average_at_start']} / {report['load_average_at_end']}"
    )
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-cluster", action="store_true", help="index only")
    parser.add_argument("--no-index", action="store_true", help="clustering only")
    parser.add_argument("--compare-indexes", action="store_true", help="the index options' table instead")
    parser.add_argument("--options", default=",".join(INDEX_OPTIONS), help="options for --compare-indexes")
    parser.add_argument("--shape", choices=("fitted", "isotropic"), default="fitted")
    parser.add_argument("--fit-vectors", type=Path, help="engine vectors to fit the shape to (embed_dev.py)")
    parser.add_argument("--json", type=Path, help="write the report here")
    parser.add_argument(
        "--threads", type=int, default=1, help="faiss OpenMP threads (1: no spinning on a shared machine)"
    )
    args = parser.parse_args()
    import faiss

    faiss.omp_set_num_threads(args.threads)
    console = Console()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    faces = generator(args.shape, args.fit_vectors)
    if args.compare_indexes:
        report = compare_indexes(args.faces, args.queries, args.seed, faces, args.options.split(","), console)
        report.update(shape=args.shape, load_average_at_start=load_at_start)
    else:
        report = run(
            args.faces,
            args.queries,
            args.seed,
            not args.no_cluster,
            console,
            args.json,
            faces,
            not args.no_index,
        )
        report["shape"] = args.shape
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
