"""The collection index on Milvus (milvus-lite on a file here): `find` gives what the local index gives."""

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from imint.faces.collection_milvus import (
    MilvusCollectionIndex,
    milvus_collection_name,
    release_milvus_lite,
)
from imint.settings import Settings
from imint.workspace import Workspace
from tests.db_support import execute, query
from tests.test_faces_collection import PLANTED, _every_copy, collection  # noqa: F401 - a fixture


@pytest.fixture()
def milvus_ws(tmp_path):
    """A workspace whose settings name a milvus-lite file (what `IMINT_MILVUS_URI` gives a command)."""
    from milvus_lite.server_manager import server_manager_instance

    uri = str(tmp_path / "milvus.db")
    settings = Settings.from_env({"IMINT_MILVUS_URI": uri}, workspace=tmp_path / "ws", user="analyst1")
    ws = Workspace(settings=settings)
    yield ws
    ws.close()
    release_milvus_lite(uri)
    # The in-process server is stopped: no port, no threads, no lock on the data folder left behind.
    assert str(tmp_path / "milvus.db") not in server_manager_instance._servers


def _dim(ws):
    """The stored embeddings' dimension (what `find` asks the index for)."""
    return len(
        np.frombuffer(query(ws, "select embedding from faces where embedding is not null")[0][0], np.float32)
    )


def _local_twin(ws):
    """The same workspace (folder and database) opened without Milvus: the local faiss index."""
    return Workspace(settings=replace(ws.settings, index_uri=""))


def test_collection_names_are_safe_and_distinct():
    for model in ("dlib-resnet+yunet:v2", "a-b", "a_b", "ünïcode/model 1"):
        name = milvus_collection_name(model)
        assert name[0].isalpha() and all(c.isascii() and (c.isalnum() or c == "_") for c in name)
        assert len(name) <= 255
    assert milvus_collection_name("a-b") != milvus_collection_name("a_b")


def test_find_on_milvus_equals_the_local_index_and_follows_the_database(milvus_ws, collection, photos):  # noqa: F811
    import imint.faces.collection as coll

    ws = milvus_ws
    ws.faces.ingest([collection])
    ws.enroll("Eileen Collins", [photos["astronaut"]], retro_hunt=False)
    index = coll.collection_index(ws, ws.faces.model_id, _dim(ws))
    assert isinstance(index, MilvusCollectionIndex) and len(index) == 5  # four faces and the reference
    via_milvus = ws.faces.find(name="Eileen Collins", record=False).to_dict()
    assert _every_copy(via_milvus["appearances"]) == PLANTED
    local = _local_twin(ws)
    try:
        assert not isinstance(
            coll.collection_index(local, local.faces.model_id, _dim(local)), MilvusCollectionIndex
        )
        # The same appearances, in the same order, with the same scores and FMRs (bit for bit).
        assert local.faces.find(name="Eileen Collins", record=False).to_dict() == via_milvus

        # A face deleted after the first search is gone from the next, on Milvus too.
        gone = via_milvus["appearances"][0]["face_id"]
        execute(ws, "update faces set embedding = null where id = :id", id=gone)
        after = ws.faces.find(name="Eileen Collins", record=False).to_dict()
        assert gone not in _every_copy(after["appearances"], "face_id") and gone not in index
        assert len(index) == 4 and len(index._read_ids()) == 4  # removed in Milvus, not only here
        assert local.faces.find(name="Eileen Collins", record=False).to_dict() == after

        # A photo added after it is found on the next search (inserted, not rebuilt).
        extra = collection.parent / "extra-milvus"
        extra.mkdir(exist_ok=True)
        Image.open(photos["astronaut"]).convert("RGB").resize((300, 300)).save(extra / "again.jpg")
        ws.faces.ingest([extra])
        found = ws.faces.find(name="Eileen Collins", record=False).to_dict()
        assert coll.collection_index(ws, ws.faces.model_id, _dim(ws)) is index and index.builds == 1
        new_faces = set(_every_copy(found["appearances"], "face_id")) - set(
            _every_copy(after["appearances"], "face_id")
        )
        assert len(new_faces) == 1 and len(index._read_ids()) == 5
        assert "again.jpg" in _every_copy(found["appearances"])
        assert local.faces.find(name="Eileen Collins", record=False).to_dict() == found
    finally:
        local.close()


def test_a_stranger_is_found_nowhere_on_milvus(milvus_ws, collection, photos):  # noqa: F811
    ws = milvus_ws
    ws.faces.ingest([collection / "sub", collection / "crop.jpg"])
    ws.enroll("Grace Hopper", [photos["grace_hopper"]])  # the retro-hunt runs through Milvus too
    result = ws.faces.find(name="Grace Hopper")
    assert result.faces_searched == 3 and result.appearances == [] and result.new_candidates == 0
    assert ws.faces.list_matches("candidate") == []


def test_a_collection_of_another_dimension_is_rebuilt_from_the_database(milvus_ws, collection, photos):  # noqa: F811
    import imint.faces.collection as coll
    from imint.faces.collection_milvus import close_milvus_collection_indexes

    ws = milvus_ws
    ws.faces.ingest([collection / "crop.jpg"])
    stale = MilvusCollectionIndex(ws, ws.faces.model_id, 8, ws.settings.index_uri)
    stale.add(np.array([999]), np.ones((1, 8), np.float32))  # a face the database never held
    stale.close()
    close_milvus_collection_indexes()
    index = coll.collection_index(ws, ws.faces.model_id, _dim(ws))
    assert index.builds == 1 and index.dim == _dim(ws) and len(index._read_ids()) == 1 and 999 not in index
    ws.enroll("Eileen Collins", [photos["astronaut"]], retro_hunt=False)
    assert [a["source"].rsplit("/", 1)[-1] for a in ws.faces.find(name="Eileen Collins").appearances] == [
        "crop.jpg"
    ]


def test_a_search_deeper_than_milvus_answers_widens_to_every_face(milvus_ws):
    """Milvus caps the neighbours of one query; beyond that `index_search` must scan, not stop short."""
    from imint.faces.collection import CollectionFaces, appearance_search, index_search

    rng = np.random.default_rng(0)
    vecs = rng.normal(size=(400, 16)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    ids = np.arange(1, 401)
    index = MilvusCollectionIndex(milvus_ws, "synthetic", 16, milvus_ws.settings.index_uri, max_topk=50)
    try:
        index.add(ids, vecs)
        index.vectors_of = lambda wanted: vecs[np.asarray(wanted) - 1]  # no database rows: the same vectors
        q = vecs[:1]
        exact = appearance_search(CollectionFaces(ids, vecs, np.ones(400)), q)
        assert (exact[1] >= -0.2).sum() > 4 * index.max_topk  # far more faces clear the floor than the cap
        got = index_search(index, q, np.array([-0.2]))
        # Every face is scored (the scan), none lost at the cap, in the exact order with the exact scores.
        np.testing.assert_array_equal(got[0], exact[0])
        np.testing.assert_array_equal(got[1], exact[1])
    finally:
        index.close()


def test_an_unreachable_milvus_is_an_error_naming_the_uri(tmp_path):
    import imint.faces.collection as coll
    from imint.faces.collection_milvus import MilvusUnavailableError

    ws = Workspace(settings=Settings(workspace=tmp_path / "ws", index_uri="http://127.0.0.1:1"))
    try:
        with pytest.raises(MilvusUnavailableError, match="127.0.0.1:1"):
            coll.collection_index(ws, "any-model", 8)
    finally:
        ws.close()
