"""Uploaded files: type-checked by their first bytes, size-limited, saved under a clean name.

The client's file name is kept only as a label: directories are stripped and odd
characters replaced, so ``../../etc/passwd`` becomes ``passwd`` inside a fresh
temporary folder and nothing is ever written outside it. The type comes from the
bytes (magic numbers), never from the name or the client's Content-Type.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from fastapi import UploadFile

from imint.errors import BadInputError
from imint.media.sniff import sniff_bytes

CHUNK = 1024 * 1024
# What each kind ``sniff_bytes`` tells apart is, as media types: what the OpenAPI document says an
# upload field accepts (its ``encoding.contentType``). The bytes decide, never the part's own header.
KIND_MEDIA_TYPES: dict[str, tuple[str, ...]] = {
    "image": (
        "image/jpeg",
        "image/png",
        "image/webp",
        "image/gif",
        "image/bmp",
        "image/heic",
        "image/heif",
        "image/avif",
    ),
    "video": (
        "video/mp4",
        "video/quicktime",
        "video/webm",
        "video/x-matroska",
        "video/x-msvideo",
        "video/3gpp",
    ),
    "raster": ("image/tiff",),
}
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._ ()+-]")


def safe_filename(name: str | None, fallback: str = "upload") -> str:
    """The last path component of a client-given name, restricted to harmless characters."""
    base = (name or "").replace("\\", "/").split("/")[-1]
    base = _UNSAFE_CHARS.sub("_", base).strip(" .")
    return base[:128] or fallback


@contextmanager
def saved_uploads(
    files: Sequence[UploadFile],
    *,
    allowed: Sequence[str],
    max_file_bytes: int,
    max_files: int = 500,
) -> Iterator[list[Path]]:
    """Write uploads to a private temporary folder (removed afterwards); yield their paths.

    Raises BadInputError naming the file when one is empty, too big or of a type not in ``allowed``.
    """
    real = [f for f in files if f is not None and (f.filename or f.size)]
    if not real:
        raise BadInputError("no file was uploaded", subject="files")
    if len(real) > max_files:
        raise BadInputError(f"at most {max_files} files per request", subject="files")
    tmp = Path(tempfile.mkdtemp(prefix="imint-upload-"))
    try:
        paths: list[Path] = []
        used: set[str] = set()
        for i, upload in enumerate(real):
            name = safe_filename(upload.filename, f"upload-{i}")
            if name in used:  # two files called photo.jpg from different folders
                name = f"{i}-{name}"
            used.add(name)
            head = upload.file.read(16)
            kind = sniff_bytes(head)
            if not head:
                raise BadInputError("the file is empty", subject=name)
            if kind is None or kind not in allowed:
                what = kind or "not an image, video or GeoTIFF"
                raise BadInputError(
                    f"file type {what} is not accepted here (accepted: {', '.join(allowed)})", subject=name
                )
            dest = tmp / name
            size = len(head)
            with dest.open("wb") as out:
                out.write(head)
                while chunk := upload.file.read(CHUNK):
                    size += len(chunk)
                    if size > max_file_bytes:
                        raise BadInputError(f"file over the {max_file_bytes} byte limit", subject=name)
                    out.write(chunk)
            paths.append(dest)
        yield paths
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
