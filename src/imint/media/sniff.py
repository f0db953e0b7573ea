"""What kind of file is this? One answer for ingest, uploads and folder searches.

The kind comes from the first bytes (magic numbers), never from the client's name or
Content-Type; the suffix is only a fallback for files whose bytes say nothing we know.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

VIDEO_SUFFIXES = {".mp4", ".mov", ".mkv", ".avi", ".webm", ".m4v", ".mpg", ".mpeg", ".3gp", ".ts"}
RASTER_SUFFIXES = {".tif", ".tiff", ".vrt", ".jp2", ".img"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".webp", ".gif", ".heic", ".heif", ".avif"}
# What a photo search picks up inside a folder (TIFF photos included; a GeoTIFF is refused there by its reader).
PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}

HEAD_BYTES = 16
# ISO base media files whose brand is a still image (HEIF, AVIF), not a movie.
_STILL_BRANDS = (b"heic", b"heix", b"hevc", b"heim", b"heis", b"avif", b"mif1", b"msf1")


def sniff_bytes(head: bytes) -> str | None:
    """'image', 'video' or 'raster' from a file's first 16 bytes, or None when they say nothing we know."""
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "raster"  # TIFF / GeoTIFF / BigTIFF: the sites part decides if it is georeferenced
    if head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")) or head[:2] == b"BM":
        return "image"
    if head[:4] == b"RIFF":
        return {b"WEBP": "image", b"AVI ": "video"}.get(head[8:12])
    if head[4:8] == b"ftyp":
        return "image" if head[8:12] in _STILL_BRANDS else "video"  # mp4, mov, m4v, 3gp
    if head[4:8] in (b"moov", b"mdat") or head.startswith(b"\x1a\x45\xdf\xa3"):  # QuickTime, Matroska/WebM
        return "video"
    return None


def read_head(path: Path, n: int = HEAD_BYTES) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def sniff_kind(path: Path) -> str:
    """image / video / raster / document: from the first bytes, then the suffix."""
    path = Path(path)
    kind = sniff_bytes(read_head(path))
    if kind is not None:
        return kind
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    if suffix in RASTER_SUFFIXES:
        return "raster"
    if suffix in IMAGE_SUFFIXES:
        return "image"
    return "document"


def is_video_file(path: Path) -> bool:
    """True for a non-empty file that is a video by its bytes (or, failing that, its suffix)."""
    try:
        return path.is_file() and path.stat().st_size > 0 and sniff_kind(path) == "video"
    except OSError:
        return False


def sort_media(
    paths: str | Path | Iterable[str | Path], *, follow_links: bool = True, by_bytes: bool = False
) -> tuple[list[Path], list[Path]]:
    """Split files and folders (searched recursively, sorted) into photos and videos.

    A file named by the caller is judged by its first bytes (a clip named .bin is still a
    video); files inside folders by their suffix, or by their bytes too with ``by_bytes``
    (``follow_links=False`` skips symbolic links there; the server's inbox uses both). Anything named that is not a video goes to the
    photos, whose reader reports what it cannot read.
    """
    photos: list[Path] = []
    videos: list[Path] = []
    for p in map(Path, [paths] if isinstance(paths, (str, Path)) else paths):
        if p.is_dir():
            for q in sorted(p.rglob("*")):
                if not q.is_file() or (q.is_symlink() and not follow_links):
                    continue
                kind = _kind_in_folder(q, by_bytes)
                if kind == "video":
                    videos.append(q)
                elif kind == "image":
                    photos.append(q)
        elif is_video_file(p):
            videos.append(p)
        else:
            photos.append(p)
    return photos, videos


def _kind_in_folder(path: Path, by_bytes: bool) -> str | None:
    if by_bytes:
        try:
            kind = sniff_bytes(read_head(path))
        except OSError:
            return None
        return kind if kind in ("image", "video") else None
    suffix = path.suffix.lower()
    if suffix in VIDEO_SUFFIXES:
        return "video"
    return "image" if suffix in PHOTO_SUFFIXES else None
