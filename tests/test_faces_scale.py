"""Collection-scale search and clustering: approximate index re-scored exactly, graph clustering."""

import numpy as np
import pytest

from imint.faces import cluster as dense
from imint.faces.calibration import load_calibration
from imint.faces.collection_index import (
    CollectionIndex,
    IndexDamagedError,
    collection_index_dir,
    ef_search_for,
)
from imint.faces.engine import DEFAULT_MODEL
from imint.faces.graph_cluster import cluster_embeddings, update_clusters


def _unit_halves(x: np.ndarray) -> np.ndarray:
    """Two L2-normalised 128-d halves, like the engine's fused SFace + dlib vector."""
    x = x.astype(np.float32).copy()
    for h in (slice(0, 128), slice(128, 256)):
        x[:, h] /= np.linalg.norm(x[:, h], axis=1, keepdims=True)
    return x


def _people(n_people: int, per_person: int, noise: float = 0.5, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = _unit_halves(rng.normal(size=(n_people, 256)))
    truth = np.repeat(np.arange(n_people), per_person)
    emb = _unit_halves(centres[truth] + noise * _unit_halves(rng.normal(size=(len(truth), 256))))
    return emb, truth


def _recall(approx: np.ndarray, exact: np.ndarray) -> float:
    return float(
        np.mean([len(set(a) & set(e)) / len(e) for a, e in zip(approx.tolist(), exact.tolist(), strict=True)])
    )


@pytest.fixture(scope="module")
def cal():
    return load_calibration(DEFAULT_MODEL)


def test_approximate_search_keeps_exact_scores_and_recall():
    emb, _ = _people(1500, 3, noise=0.8)
    ids = np.arange(len(emb)) * 7 + 100  # face ids are not row numbers
    index = CollectionIndex.build(ids, emb, exact_below=1000)
    assert index.approximate
    queries = emb[::17]
    scores, found = index.search(queries, 10)
    exact = emb @ queries.T
    exact_ids = ids[np.argsort(-exact, axis=0)[:10].T]
    assert _recall(found, exact_ids) >= 0.99
    # Every score handed back is the exact inner product of the stored vectors.
    rows = (found - 100) // 7
    np.testing.assert_allclose(scores, np.take_along_axis(exact.T, rows, axis=1), atol=1e-5)
    assert (np.diff(scores, axis=1) <= 1e-7).all()


def test_add_remove_then_search():
    emb, _ = _people(1200, 3, noise=0.8, seed=1)
    index = CollectionIndex.build(np.arange(3000), emb[:3000], exact_below=1000)
    index.add(np.arange(3000, len(emb)), emb[3000:])
    assert len(index) == len(emb)
    _, top = index.search(emb[3000:3050], 1)
    assert (top[:, 0] == np.arange(3000, 3050)).all()  # a new face finds itself
    gone = np.arange(0, 3600, 3)
    index.remove(gone)
    assert len(index) == len(emb) - len(gone)
    assert 0 not in index and 1 in index
    _, top = index.search(emb[gone[:100]], 10)
    assert not np.isin(top, gone).any()
    # Replacing a face's vector: the id is held once, with the new vector.
    index.add(np.array([1]), emb[2:3])
    _, top = index.search(emb[2:3], 2)
    assert set(top[0].tolist()) == {1, 2}
    assert len(index) == len(emb) - len(gone)


def test_exact_below_threshold_and_padding():
    emb, _ = _people(5, 2, seed=2)
    index = CollectionIndex.build(np.arange(10), emb)
    assert not index.approximate
    index.remove([0, 1, 2])
    scores, ids = index.search(emb[:1], 10)
    assert (ids[0, :7] >= 3).all() and (ids[0, 7:] == -1).all() and np.isinf(scores[0, 7:]).all()


def test_save_load_round_trip_and_rebuild(tmp_path):
    emb, _ = _people(1000, 3, noise=0.8, seed=3)
    index = CollectionIndex.build(np.arange(len(emb)), emb, exact_below=1000)
    index.remove(np.arange(0, 600))  # saved compacted
    target = collection_index_dir(tmp_path / "index", "yunet/sface+dlib")
    assert target.name == "collection-yunet-sface-dlib"
    index.save(target)
    back = CollectionIndex.load(target)
    assert back.approximate and len(back) == len(index)
    a_scores, a_ids = index.search(emb[600:700], 10)
    b_scores, b_ids = back.search(emb[600:700], 10)
    np.testing.assert_array_equal(a_ids, b_ids)
    np.testing.assert_allclose(a_scores, b_scores)
    # The database holds other faces now: the saved copy is not used, it is rebuilt and saved.
    want = np.arange(500, len(emb))
    rebuilt = CollectionIndex.load_or_build(target, want, emb[want])
    np.testing.assert_array_equal(rebuilt.ids(), want)
    np.testing.assert_array_equal(CollectionIndex.load(target).ids(), want)
    (target / "faiss.index").write_bytes(b"not an index")
    with pytest.raises(IndexDamagedError, match="collection"):
        CollectionIndex.load(target)
    assert len(CollectionIndex.load_or_build(target, want, emb[want])) == len(want)


def test_ef_search_grows_with_the_collection_unless_one_is_given(tmp_path):
    # The two measured points (docs/scale.md): 512 at 10^5 faces, 2048 at 10^6; never below 512.
    assert [ef_search_for(n) for n in (10, 100_000, 1_000_000)] == [512, 512, 2048]
    sizes = [250_000, 500_000, 2_000_000, 10**9]
    assert [ef_search_for(n) for n in sizes] == sorted(ef_search_for(n) for n in sizes)
    emb, _ = _people(400, 3, seed=4)
    by_size = CollectionIndex.build(np.arange(len(emb)), emb, exact_below=1000)
    assert by_size.effective_ef_search == 512 and "(by size)" in by_size.kind
    fixed = CollectionIndex.build(np.arange(len(emb)), emb, exact_below=1000, ef_search=64)
    assert fixed.effective_ef_search == 64 and "efSearch=64," in fixed.kind
    fixed.save(tmp_path / "fixed")
    assert CollectionIndex.load(tmp_path / "fixed").effective_ef_search == 64
    # An index saved before efSearch grew with size (format 1, always the old default 512) now grows.
    meta = tmp_path / "fixed" / "meta.json"
    meta.write_text(meta.read_text().replace('"format": 2', '"format": 1'))
    assert CollectionIndex.load(tmp_path / "fixed").ef_search is None


def test_planted_identities_found_like_dense_average_linkage(cal):
    emb, truth = _people(60, 5, noise=0.55, seed=4)
    q = np.full(len(emb), 0.8)
    labels = cluster_embeddings(emb, q, cal)
    assert labels.max() + 1 == 60
    for p in range(60):
        assert len(set(labels[truth == p])) == 1
    np.testing.assert_array_equal(
        labels[:, None] == labels[None, :],
        (lambda d: d[:, None] == d[None, :])(dense.cluster_embeddings(emb, q, cal)),
    )


def test_strangers_stay_alone(cal):
    emb, truth = _people(20, 4, noise=0.5, seed=5)
    rng = np.random.default_rng(6)
    strangers = _unit_halves(rng.normal(size=(300, 256)))
    allv = np.vstack([emb, strangers])
    # Keep the strangers whose every pair (with a person or another stranger) is above the
    # calibrated cut: FMR >= 1e-3 at their quality.
    s = strangers @ allv.T
    s[np.arange(300), 80 + np.arange(300)] = -np.inf
    cut = cal.threshold_for_fmr(1e-3, 0.8, 0.8)
    apart = np.flatnonzero(s.max(axis=1) < cut)
    assert len(apart) > 50
    allv = np.vstack([emb, strangers[apart]])
    labels = cluster_embeddings(allv, np.full(len(allv), 0.8), cal)
    sizes = np.bincount(labels)
    assert (sizes[labels[80:]] == 1).all()  # no stranger joins a cluster or another stranger
    assert len(set(labels[:80])) == 20 and (sizes[labels[:80]] == 4).all()


def test_a_component_too_large_for_the_dense_matrix_is_split_along_weaker_edges(cal, monkeypatch):
    import imint.faces.graph_cluster as gc

    emb, truth = _people(30, 6, noise=0.5, seed=12)
    q = np.full(len(emb), 0.8)
    whole = cluster_embeddings(emb, q, cal)
    assert np.array_equal(whole[:, None] == whole[None, :], truth[:, None] == truth[None, :])
    # Every person's 6 faces are one component; with room for 4 the rule must split them, down
    # to the mutual-strongest-edge matching if need be, and still never join two people.
    monkeypatch.setattr(gc, "COMPONENT_DENSE_UP_TO", 4)
    split = cluster_embeddings(emb, q, cal, must_link=[(0, 6)], cannot_link=[(12, 13)])
    assert split[0] == split[6] and split[12] != split[13]
    people_per_cluster = [len(set(truth[split == c])) for c in range(split.max() + 1) if c != split[0]]
    assert max(people_per_cluster) == 1 and split.max() + 1 > 30
    assert np.bincount(split).max() <= 8  # pieces of at most 4 faces; the must-link joins two of them


def test_cannot_link_is_never_joined_and_must_link_always(cal):
    emb, truth = _people(10, 4, noise=0.5, seed=7)
    rng = np.random.default_rng(8)
    stranger = _unit_halves(rng.normal(size=(1, 256)))
    allv = np.vstack([emb, stranger])
    q = np.full(len(allv), 0.8)
    labels = cluster_embeddings(allv, q, cal, must_link=[(0, 40)], cannot_link=[(4, 5)])
    assert labels[0] == labels[40]
    assert labels[4] != labels[5]


def test_manual_merge_and_split_survive_an_incremental_update(cal):
    emb, truth = _people(12, 6, noise=0.5, seed=9)
    q = np.full(len(emb), 0.8)
    first = np.flatnonzero(np.arange(len(emb)) % 6 < 4)  # 4 faces of each person now, 2 later
    labels_first = cluster_embeddings(emb[first], q[first], cal)
    pos = {int(r): i for i, r in enumerate(first)}
    assert labels_first.max() + 1 == 12
    # A person merges person 0's and person 1's clusters, and splits person 2's in two.
    p0 = [r for r in first if truth[r] == 0]
    p1 = [r for r in first if truth[r] == 1]
    p2 = [r for r in first if truth[r] == 2]
    labels_first = labels_first.copy()
    labels_first[[pos[r] for r in p1]] = labels_first[pos[p0[0]]]
    labels_first[[pos[r] for r in p2[2:]]] = labels_first.max() + 1
    must = [(p0[0], r) for r in p1]
    cannot = [(a, b) for a in p2[2:] for b in p2[:2]]

    # Incremental: the later faces arrive; old rows keep their labels, new rows are -1.
    current = -np.ones(len(emb), np.int64)
    current[first] = labels_first
    labels = update_clusters(current, emb, q, cal, must_link=must, cannot_link=cannot)
    assert len({labels[r] for r in p0 + p1}) == 1  # the merge survives
    assert labels[p2[0]] != labels[p2[2]]  # the split survives
    assert labels[p2[0]] == labels[p2[1]] and labels[p2[2]] == labels[p2[3]]
    for p in range(3, 12):  # the later faces join their person's cluster
        assert len(set(labels[truth == p])) == 1
    # The same constraints on a full re-clustering (rows, not the stored labels) hold too.
    full = cluster_embeddings(emb, q, cal, must_link=must, cannot_link=cannot)
    assert len({full[r] for r in p0 + p1}) == 1
    assert all(full[a] != full[b] for a, b in cannot)


def test_bad_input_is_named(cal):
    from imint.errors import ValidationError

    with pytest.raises(ValidationError, match="vectors"):
        CollectionIndex.build(np.arange(3), np.zeros((3, 5), np.float32) + np.nan)
    with pytest.raises(ValidationError, match="quality"):
        cluster_embeddings(np.zeros((3, 256), np.float32), np.zeros(2), cal)


def test_any_size_is_dense_for_small_sets_and_graph_beyond(cal, monkeypatch):
    # imint.faces.cluster.cluster_embeddings (what `imint cluster` runs) picks the path by size.
    emb, truth = _people(10, 4, noise=0.5, seed=10)
    q = np.full(len(emb), 0.8)
    called = []
    monkeypatch.setattr(dense, "graph_cluster_embeddings", lambda *a, **k: called.append("graph"))
    dense_labels = dense.cluster_embeddings(emb, q, cal)
    assert not called
    monkeypatch.undo()
    monkeypatch.setattr(dense, "DENSE_UP_TO", 10)
    monkeypatch.setattr(dense, "dense_cluster_embeddings", lambda *a, **k: called.append("dense"))
    graph_labels = dense.cluster_embeddings(emb, q, cal)
    assert not called
    same = dense_labels[:, None] == dense_labels[None, :]
    np.testing.assert_array_equal(same, graph_labels[:, None] == graph_labels[None, :])
    np.testing.assert_array_equal(same, truth[:, None] == truth[None, :])


def _engine_shape():
    """benchmarks/engine_shape.py (the benchmark's fitted generator), imported from the checkout."""
    from tests.script_support import load_script

    return load_script("benchmarks/engine_shape.py")


def test_the_fitted_generator_reproduces_the_shape_it_was_fitted_to():
    # A labelled set with a shared mean, an anisotropic between-person spread and quality-dependent
    # noise, as engine vectors have (made here: tests do not read ../shared/data).
    shape_module = _engine_shape()
    rng = np.random.default_rng(3)
    scales = 0.1 + 3.0 * np.exp(-np.arange(256) / 15)  # a few directions carry most of the spread
    n_people = 400
    sizes = rng.choice([1, 2, 3, 5, 8], n_people, p=[0.4, 0.25, 0.15, 0.12, 0.08])
    person = np.repeat(np.arange(n_people), sizes)
    quality = rng.uniform(0.3, 1.0, len(person)).astype(np.float32)
    mean = rng.normal(size=256) * 1.5
    centres = mean + rng.normal(size=(n_people, 256)) * scales
    noise = rng.normal(size=(len(person), 256)) * (0.5 - 0.3 * quality)[:, None]
    real = shape_module.halves_normalised(centres[person] + noise)
    shape = shape_module.fit(real, person, quality)
    syn, syn_person, syn_quality = shape.faces(len(real), seed=1)
    assert syn.shape == real.shape and syn.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(syn, axis=1), 1.0, atol=1e-5)
    want, got = shape_module.describe(real, person), shape_module.describe(syn, syn_person)
    for key in ("stranger_score_mean_std", "same_person_score_mean_std"):
        np.testing.assert_allclose(got[key][0], want[key][0], atol=0.03)
    np.testing.assert_allclose(
        got["nearest_stranger_percentiles_5_25_50_75_95"][2],
        want["nearest_stranger_percentiles_5_25_50_75_95"][2],
        atol=0.03,
    )
    assert abs(got["effective_dimension"] - want["effective_dimension"]) < 0.25 * want["effective_dimension"]
    # Photos per person follow the fitted histogram; lower quality means a noisier face.
    assert set(np.bincount(syn_person)) <= set(sizes)
    assert shape.spread_b < 0


def test_knn_edges_through_cells_find_the_strong_pairs_that_exact_search_finds():
    import imint.faces.graph_cluster as gc

    emb, truth = _people(800, 4, noise=0.5, seed=13)
    a, b = gc.knn_edges(emb, 5, exact_below=10**9)
    # Exact: every row's 5 nearest other rows, no self-pairs.
    assert (a != b).all() and np.array_equal(np.bincount(a, minlength=len(emb)), np.full(len(emb), 5))
    scores = emb @ emb.T
    np.fill_diagonal(scores, -np.inf)
    want = np.sort(np.argsort(-scores, axis=1)[:, :5], axis=1)
    got = np.sort(b.reshape(len(emb), 5)[np.argsort(a.reshape(len(emb), 5)[:, 0])], axis=1)
    np.testing.assert_array_equal(got, want)
    # A floor drops the weaker pairs and nothing else.
    floor = float(np.median(scores[a, b]))
    fa, fb = gc.knn_edges(emb, 5, floor=floor, exact_below=10**9)
    assert (scores[fa, fb] > floor).all()
    kept = {(i, j) for i, j in zip(a.tolist(), b.tolist(), strict=True) if scores[i, j] > floor}
    assert set(zip(fa.tolist(), fb.tolist(), strict=True)) == kept
    # Through the k-means cells (forced at this size): the same-person pairs are still found.
    ca, cb = gc.knn_edges(emb, 5, exact_below=0, nprobe=4)
    assert (ca != cb).all()
    same = truth[a] == truth[b]
    exact_pairs = set(zip(a[same].tolist(), b[same].tolist(), strict=True))
    found = exact_pairs & set(zip(ca.tolist(), cb.tolist(), strict=True))
    assert len(found) >= 0.95 * len(exact_pairs)


def test_graph_clustering_through_cells_equals_the_exact_graph_on_planted_people(cal, monkeypatch):
    import imint.faces.graph_cluster as gc

    emb, truth = _people(300, 4, noise=0.5, seed=14)
    q = np.full(len(emb), 0.8)
    exact = cluster_embeddings(emb, q, cal)
    stats: dict = {}
    monkeypatch.setattr(gc, "KNN_EXACT_BELOW", 0)
    cells = cluster_embeddings(emb, q, cal, stats=stats, nprobe=6)
    assert stats["knn"] == "34 k-means cells, 6 scanned" and stats["below_cut_edges"] > 0
    same = truth[:, None] == truth[None, :]
    np.testing.assert_array_equal(exact[:, None] == exact[None, :], same)
    np.testing.assert_array_equal(cells[:, None] == cells[None, :], same)
