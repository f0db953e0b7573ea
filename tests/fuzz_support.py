"""Shared parts of the decoder fuzz tests (tests/test_fuzz_*.py): settings, byte mutations, store snapshots.

Each decoder has two tests running one body: a small derandomised run in the default suite
(``IMINT_FUZZ_EXAMPLES``, default 25) and a ``slow``/``fuzz`` run of ``IMINT_FUZZ_SLOW_EXAMPLES`` (default 1,000) inputs. The rule checked everywhere:
bad bytes raise an ``ImintError`` or are accepted, never anything else, and nothing stored before changes.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from imint.errors import ImintError
from imint.store.models import CustodyEntry, EvidenceRow

FAST_EXAMPLES = int(os.environ.get("IMINT_FUZZ_EXAMPLES", "25"))
SLOW_EXAMPLES = int(os.environ.get("IMINT_FUZZ_SLOW_EXAMPLES", "1000"))
CRASHERS = Path(__file__).parent / "fuzz_crashers"

_COMMON = dict(
    deadline=None,
    derandomize=True,  # the same inputs on every run and in CI
    database=None,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)


def run_fuzz(strategy: st.SearchStrategy, body: Callable[[Any], None], examples: int, name: str) -> None:
    """Run ``body`` on ``examples`` inputs drawn from ``strategy`` (derandomised: the same inputs every run).

    A crash does not stop the run: every input that raises something other than an ImintError (or breaks
    an assertion) is saved under ``IMINT_FUZZ_SAVE_DIR`` (default: the system temp folder) so it can be kept
    as a fixture in tests/fuzz_crashers/, and the test fails at the end listing them all. With
    ``IMINT_FUZZ_LOG`` set, a line "name inputs crashes seconds" is appended there.
    """
    save_dir = Path(os.environ.get("IMINT_FUZZ_SAVE_DIR", tempfile.gettempdir())) / "imint-fuzz-found"
    tried, crashes = 0, []
    started = time.perf_counter()

    @settings(max_examples=examples, **_COMMON)
    @given(strategy)
    def fuzz(data: Any) -> None:
        nonlocal tried
        tried += 1
        try:
            body(data)
        except Exception as exc:  # noqa: BLE001 - collected, reported below
            raw = data if isinstance(data, bytes) else repr(data).encode()
            save_dir.mkdir(parents=True, exist_ok=True)
            path = save_dir / f"{name}-{hashlib.sha256(raw).hexdigest()[:12]}.bin"
            path.write_bytes(raw)
            where = traceback.extract_tb(exc.__traceback__)[-1]
            crashes.append(
                f"{type(exc).__name__}: {str(exc)[:200]} at {where.filename}:{where.lineno} -> {path}"
            )

    fuzz()
    seconds = time.perf_counter() - started
    if log := os.environ.get("IMINT_FUZZ_LOG"):
        with open(log, "a") as fh:
            fh.write(f"{name} inputs={tried} crashes={len(crashes)} seconds={seconds:.0f}\n")
            fh.writelines(f"  {c}\n" for c in crashes)
    assert not crashes, f"{len(crashes)} of {tried} inputs crashed:\n" + "\n".join(crashes[:30])


# ---------------------------------------------------------------------------------- mutations
HUGE = (
    b"\xff\xff\xff\xff",
    b"\x7f\xff\xff\xff",
    b"\x80\x00\x00\x00",
    b"\x00\x00\x00\x00",
    b"\xff\xff\xff\x7f",
)


def _apply(seed: bytes, ops: list[tuple]) -> bytes:
    data = bytearray(seed)
    for op in ops:
        n = len(data)
        if n == 0:
            break
        kind, pos = op[0], op[1] % max(n, 1)
        if kind == "truncate":
            del data[max(pos, 1) :]
        elif kind == "flip":
            data[pos] ^= op[2]
        elif kind == "insert":
            data[pos:pos] = op[2]
        elif kind == "huge":  # a length or size field made enormous (or zero)
            data[pos : pos + 4] = op[2]
        elif kind == "delete":
            del data[pos : pos + op[2]]
        elif kind == "repeat":  # a chunk duplicated in place
            data[pos:pos] = data[pos : pos + op[2]]
    return bytes(data)


def _position(n: int) -> st.SearchStrategy[int]:
    # Headers hold the sizes and offsets: half of the positions fall in the first 512 bytes.
    return st.one_of(st.integers(0, max(0, min(n, 512) - 1)), st.integers(0, max(0, n - 1)))


def mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    """A real file cut, flipped, grown, with huge declared sizes: 1 to 4 edits of ``seed``."""
    n = len(seed)
    op = st.one_of(
        st.tuples(st.just("truncate"), _position(n)),
        st.tuples(st.just("flip"), _position(n), st.integers(1, 255)),
        st.tuples(st.just("insert"), _position(n), st.binary(min_size=1, max_size=64)),
        st.tuples(st.just("huge"), _position(n), st.sampled_from(HUGE)),
        st.tuples(st.just("delete"), _position(n), st.integers(1, 256)),
        st.tuples(st.just("repeat"), _position(n), st.integers(1, 256)),
    )
    return st.lists(op, min_size=1, max_size=4).map(lambda ops: _apply(seed, ops))


def fuzz_bytes(seed: bytes, random_size: int = 4096) -> st.SearchStrategy[bytes]:
    """Mostly mutations of the seed; also random bytes, and the seed's header followed by random bytes."""
    return st.one_of(
        mutations(seed),
        mutations(seed),
        mutations(seed),
        st.binary(max_size=random_size),
        st.binary(max_size=random_size).map(lambda tail: seed[:32] + tail),
    )


def crasher_files(prefix: str) -> list[Path]:
    return sorted(CRASHERS.glob(f"{prefix}*"))


# ---------------------------------------------------------------------------------- the store
def store_state(ws, sha256: str) -> dict[str, Any]:  # noqa: ANN001 - a Workspace
    """What must not change: the good record, its custody entries, its stored bytes."""
    with ws.session() as s:
        row = s.get(EvidenceRow, sha256)
        record = {
            k: getattr(row, k)
            for k in ("sha256", "kind", "media_type", "original_name", "size_bytes", "metadata_", "added_at")
        }
        custody = [
            (e.id, e.action, e.actor, e.at, e.details)
            for e in s.scalars(
                select(CustodyEntry).where(CustodyEntry.evidence_sha256 == sha256).order_by(CustodyEntry.id)
            )
        ]
    stored = hashlib.sha256(ws.object_path(sha256).read_bytes()).hexdigest()
    return {"record": record, "custody": custody, "object_sha256": stored}


def counts(ws) -> tuple[int, int]:  # noqa: ANN001
    """(evidence rows, custody entries)."""
    with ws.session() as s:
        return (
            s.scalar(select(func.count()).select_from(EvidenceRow)),
            s.scalar(select(func.count()).select_from(CustodyEntry)),
        )


def every_object_present(ws) -> None:  # noqa: ANN001
    """No evidence row without its whole object file (nothing half-written)."""
    with ws.session() as s:
        rows = s.execute(select(EvidenceRow.sha256, EvidenceRow.size_bytes)).all()
    for sha, size in rows:
        path = ws.object_path(sha)
        assert path.is_file() and path.stat().st_size == size, f"object of {sha} missing or partial"


def refused_or_accepted(call: Callable[[], Any]) -> tuple[bool, Any]:
    """Run ``call``; (True, result) when it accepted, (False, error) for an ImintError; anything else fails."""
    try:
        return True, call()
    except ImintError as exc:
        assert str(exc).strip(), "an ImintError without a message"
        return False, exc
