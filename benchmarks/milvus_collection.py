"""The collection index on milvus-lite beside the local one: fill time and k=64 query latency.

    PYTHONPATH=src .venv/bin/python benchmarks/milvus_collection.py --faces 20000

Random 256-d unit vectors (the fused engine vector's size); ``search`` only (the exact re-score
from the database is the same code for both). The local flat index is the peer in the same run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from imint.faces.collection_index import CollectionIndex
from imint.faces.collection_milvus import MilvusCollectionIndex, release_milvus_lite

DIM = 256
QUERIES = 50


def measure(
    label: str, make: Callable[[], Any], ids: np.ndarray, vecs: np.ndarray, queries: np.ndarray
) -> None:
    wall, cpu = time.perf_counter(), time.process_time()
    index = make()
    index.add(ids, vecs)
    fill_wall, fill_cpu = time.perf_counter() - wall, time.process_time() - cpu
    lat = []
    for q in queries:
        t = time.perf_counter()
        index.search(q[None], 64)
        lat.append(time.perf_counter() - t)
    print(
        f"{label}: fill {fill_wall:.2f} s wall / {fill_cpu:.2f} s CPU; query k=64 "
        f"p50 {1e3 * np.median(lat):.1f} ms, p95 {1e3 * np.percentile(lat, 95):.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int, default=20_000)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(args.faces, DIM)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, args.faces + 1)
    queries = vecs[rng.choice(args.faces, QUERIES, replace=False)]
    with open("/proc/loadavg") as f:
        print("load", f.read().split()[:3])
    measure("local (faiss)", lambda: CollectionIndex(DIM), ids, vecs, queries)
    uri = tempfile.mkdtemp() + "/milvus.db"
    no_workspace = types.SimpleNamespace(settings=None)  # search only: vectors_of (the database) is not used
    try:
        measure(
            "milvus-lite", lambda: MilvusCollectionIndex(no_workspace, "bench", DIM, uri), ids, vecs, queries
        )
    finally:
        release_milvus_lite(uri)


if __name__ == "__main__":
    main()
