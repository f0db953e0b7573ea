"""What keeps ingest flat as the workspace grows: the stored image hashes kept per process (read by rowid),
and the known hashes handed to workers as a file."""

import numpy as np
import pytest
from PIL import Image

from imint.checks.duplicates import find_near_duplicates
from imint.checks.tables import ImageHashRow
from imint.faces.ingest_pipeline import KnownHashes, sha256_of_bytes
from imint.media.phash import METHOD
from imint.workspace import Workspace


def test_known_hashes_answer_membership_exactly_and_survive_a_file(tmp_path):
    shas = [sha256_of_bytes(f"photo {i}".encode()) for i in range(1000)]
    known = KnownHashes.of(shas[:500])
    assert all(s in known for s in shas[:500]) and not any(s in known for s in shas[500:])
    assert "not a hash" not in known and len(known) == 500
    known.save(tmp_path / "k.npy")
    again = KnownHashes.load(str(tmp_path / "k.npy"))
    assert shas[3] in again and shas[700] not in again
    assert shas[0] not in KnownHashes.of([])


def _matches(ws, sha):
    with ws.session() as s:
        return {m.sha256 for m in find_near_duplicates(s, s.get(ImageHashRow, (sha, METHOD)))}


def test_the_kept_hashes_leave_out_a_rolled_back_copy_and_see_another_writers_commit(tmp_path, photos):
    astro = np.asarray(Image.open(photos["astronaut"]).convert("RGB"))
    Image.fromarray(astro[:, ::-1]).resize((300, 300)).save(tmp_path / "mirrored.jpg", quality=60)
    Image.fromarray(astro).resize((256, 256)).save(tmp_path / "small.png")
    ws = Workspace(tmp_path / "ws", user="t")
    original = ws.ingest(photos["astronaut"]).sha256
    assert _matches(ws, original) == set()  # the process now holds the committed hashes

    with pytest.raises(RuntimeError), ws.session() as s:
        ws.ingest(tmp_path / "mirrored.jpg", session=s)
        raise RuntimeError("the batch fails after the copy was hashed")
    assert _matches(ws, original) == set()

    # Another writer (its own engine on the same file) commits a copy; this process's next session sees it.
    other = Workspace(tmp_path / "ws", user="u")
    small = other.ingest(tmp_path / "small.png").sha256
    assert _matches(ws, original) == {small}
    mirrored = ws.ingest(tmp_path / "mirrored.jpg").sha256
    assert _matches(ws, original) == {small, mirrored} and _matches(other, mirrored) == {original, small}


@pytest.mark.sqlite_only(reason="reads the imint.db file beside the pool; a server database keeps no file")
def test_reading_the_committed_hashes_takes_no_second_pooled_connection(tmp_path, photos):
    """An ingest's session holds a pooled connection (and SQLite's write lock) while it searches the kept
    hashes; with the pool otherwise taken by requests waiting for that lock, asking it for another one
    deadlocked the server (50 concurrent searches, 38 failed). A pool of one connection shows it."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.orm import Session

    from imint.checks.duplicates import _committed_hashes

    ws = Workspace(tmp_path / "ws", user="t")
    stored = ws.ingest(photos["astronaut"]).sha256
    one = create_engine(f"sqlite:///{ws.db.path}", pool_size=1, max_overflow=0, pool_timeout=0.5)
    with Session(one) as session:
        session.execute(text("SELECT 1"))  # this session now holds the pool's only connection
        kept = _committed_hashes(session)
    assert kept is not None and stored in kept.shas
