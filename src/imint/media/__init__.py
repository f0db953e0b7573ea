"""Media: the one ingest path, hashing, custody, image decoding.

The names are imported on first use: ``imint.media.images`` (decoding, all an ingest worker needs)
must not pull in ``imint.media.ingest`` and with it SQLAlchemy (0.7 CPU-s per worker process;
docs/ingest-throughput.md).
"""

from __future__ import annotations

import importlib
from typing import Any

_WHERE = {
    "decode_image": "imint.media.images",
    "load_image_file": "imint.media.images",
    "ingest_file": "imint.media.ingest",
    "log_custody": "imint.media.ingest",
    "object_path": "imint.media.ingest",
    "sha256_file": "imint.media.ingest",
}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
