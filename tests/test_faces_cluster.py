"""Clustering unknown faces: calibrated, and people's merges and splits are kept."""

import numpy as np
import pytest

from imint.faces.calibration import load_calibration
from imint.faces.cluster import Clusters, cluster_embeddings
from imint.faces.engine import DEFAULT_MODEL
from imint.workspace import Workspace


def _people(n_people=3, per_person=4, dim=256, seed=0):
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_people, dim))
    rows, labels = [], []
    for p, c in enumerate(centres):
        for _ in range(per_person):
            v = c / np.linalg.norm(c) + rng.normal(scale=0.02, size=dim)
            rows.append(v / np.linalg.norm(v))
            labels.append(p)
    return np.array(rows, np.float32), np.array(labels)


def test_clusters_follow_identities():
    emb, truth = _people()
    cal = load_calibration(DEFAULT_MODEL)
    labels = cluster_embeddings(emb, np.full(len(emb), 0.9), cal)
    assert len(set(labels)) == 3
    for p in range(3):
        assert len(set(labels[truth == p])) == 1


def test_constraints_override_the_scores():
    emb, truth = _people()
    cal = load_calibration(DEFAULT_MODEL)
    q = np.full(len(emb), 0.9)
    # A person says faces 0 and 1 are different people, and faces 3 and 4 the same.
    labels = cluster_embeddings(emb, q, cal, must_link=[(3, 4)], cannot_link=[(0, 1)])
    assert labels[0] != labels[1]
    assert labels[3] == labels[4]


@pytest.mark.parametrize("dense_up_to", [5_000, 0])  # the dense path, and the graph path of collections
def test_workspace_clusters_rename_split_merge_promote(tmp_path, photos, monkeypatch, dense_up_to):
    import imint.faces.cluster as cluster_module

    monkeypatch.setattr(cluster_module, "DENSE_UP_TO", dense_up_to)
    if dense_up_to == 0:  # `imint cluster` above the dense limit must not build the N x N matrix
        monkeypatch.setattr(cluster_module, "dense_cluster_embeddings", None)
    ws = Workspace(tmp_path / "ws")
    clusters = Clusters(ws.faces)
    found = clusters.run([photos["astronaut"], photos["astronaut_crop"], photos["grace_hopper"]])
    assert sorted(len(c.face_ids) for c in found) == [1, 2]
    astro = next(c for c in found if len(c.face_ids) == 2)
    clusters.rename(astro.id, "woman in flight suit")
    # Re-clustering keeps the cluster's id and name.
    again = {c.id: c for c in clusters.run()}
    assert again[astro.id].name == "woman in flight suit"

    new_id = clusters.split(astro.id, [astro.face_ids[1]])
    after_split = {c.id: c for c in clusters.run()}
    assert astro.face_ids[1] in after_split[new_id].face_ids  # the split survives re-clustering
    assert astro.face_ids[1] not in after_split[astro.id].face_ids

    clusters.merge([astro.id, new_id])
    merged = {c.id: c for c in clusters.run()}
    assert sorted(merged[astro.id].face_ids) == sorted(astro.face_ids)

    clusters.promote(astro.id, "Eileen Collins")
    hit = ws.search([photos["astronaut_crop"]])[0].faces[0].best
    assert hit is not None and hit.person_name == "Eileen Collins"
