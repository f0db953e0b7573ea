"""Web captures: a WACZ or WARC archive ingested whole, and every image response in it as evidence.

The archive itself is ingested first (``Workspace.ingest``) as the parent evidence. Each HTTP response
with an image content type becomes its own evidence, ingested the same way, with a ``captured`` custody
entry holding the capture URL, the capture time (``WARC-Date``), the WARC record id and the archive's
SHA-256. The whole archive is read and checked before anything is stored, so a bad archive stores nothing.

A WACZ is a zip; zip bombs are refused by the declared and the actually read sizes (``MAX_TOTAL_BYTES``,
``MAX_RATIO``, ``MAX_ENTRIES``), and a resource that ``datapackage.json`` lists but the zip lacks, or whose
hash differs, is an error naming it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from imint.errors import BadInputError
from imint.records import Evidence

if TYPE_CHECKING:
    from imint.workspace import Workspace

MAX_TOTAL_BYTES = 1 << 30  # everything read out of one archive, decompressed
MAX_IMAGE_BYTES = 64 << 20  # one image response
MAX_RATIO = 200  # decompressed / compressed size of one zip entry
MAX_ENTRIES = 20_000
CHECK = "capture"


@dataclass
class CapturedImage:
    url: str
    capture_time: str
    record_id: str
    content_type: str
    data: bytes
    warc: str  # the WARC file inside the archive it came from


@dataclass
class CaptureImport:
    archive: Evidence
    images: list[Evidence] = field(default_factory=list)
    urls: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # records not imported, with the reason


def _fail(path: Path, message: str) -> BadInputError:
    return BadInputError(f"{message} [check {CHECK}]", subject=path)


class _Budget:
    """Counts decompressed bytes across one archive so that no declared size has to be trusted."""

    def __init__(self, path: Path, limit: int = MAX_TOTAL_BYTES) -> None:
        self.path, self.limit, self.used = path, limit, 0

    def read(self, stream: IO[bytes], cap: int, what: str) -> bytes:
        out = bytearray()
        while chunk := stream.read(1 << 16):
            out += chunk
            self.used += len(chunk)
            if len(out) > cap:
                raise _fail(self.path, f"{what} is larger than {cap:,} bytes when decompressed")
            if self.used > self.limit:
                raise _fail(self.path, f"archive decompresses to more than {self.limit:,} bytes (zip bomb?)")
        return bytes(out)


def _warc_images(
    path: Path, stream: IO[bytes], warc_name: str, budget: _Budget, skipped: list[str]
) -> Iterator[CapturedImage]:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    try:
        for record in ArchiveIterator(stream):
            if record.rec_type != "response" or record.http_headers is None:
                if record.rec_type == "revisit":
                    skipped.append(
                        f"{record.rec_headers.get_header('WARC-Target-URI')}: revisit record (payload elsewhere)"
                    )
                continue
            ctype = (record.http_headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
            if not ctype.startswith("image/"):
                continue
            url = record.rec_headers.get_header("WARC-Target-URI") or ""
            status = record.http_headers.get_statuscode()
            if status != "200":
                skipped.append(f"{url}: HTTP {status}")
                continue
            data = budget.read(record.content_stream(), MAX_IMAGE_BYTES, f"image response {url}")
            if not data:
                skipped.append(f"{url}: empty payload")
                continue
            yield CapturedImage(
                url=url,
                capture_time=record.rec_headers.get_header("WARC-Date") or "",
                record_id=record.rec_headers.get_header("WARC-Record-ID") or "",
                content_type=ctype,
                data=data,
                warc=warc_name,
            )
    except ArchiveLoadFailed as exc:
        raise _fail(path, f"{warc_name} is not a readable WARC ({exc})") from exc
    except (OSError, EOFError, ValueError, zlib.error, AttributeError) as exc:
        # AttributeError: warcio's parser on a record whose header block is cut short (tests/test_fuzz_checks.py)
        raise _fail(path, f"{warc_name} is truncated or corrupt ({exc})") from exc


def _check_zip(path: Path, zf: zipfile.ZipFile) -> None:
    infos = zf.infolist()
    if len(infos) > MAX_ENTRIES:
        raise _fail(path, f"{len(infos):,} entries, over the {MAX_ENTRIES:,} limit")
    total = 0
    for info in infos:
        total += info.file_size
        if (
            info.compress_size
            and info.file_size / info.compress_size > MAX_RATIO
            and info.file_size > 1 << 20
        ):
            raise _fail(
                path,
                f"entry {info.filename} expands {info.file_size / info.compress_size:,.0f}-fold "
                f"({info.file_size:,} bytes), over the {MAX_RATIO}-fold limit (zip bomb?)",
            )
    if total > MAX_TOTAL_BYTES:
        raise _fail(path, f"declares {total:,} bytes uncompressed, over the {MAX_TOTAL_BYTES:,}-byte limit")


def _wacz_images(path: Path, budget: _Budget, skipped: list[str]) -> list[CapturedImage]:
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError) as exc:
        raise _fail(path, f"not a WACZ (not a zip file: {exc})") from exc
    # A zip whose directory reads but whose entries do not (bad local headers, CRC, offsets, deflate data)
    # raised BadZipFile, OSError or zlib.error from zipfile (found by tests/test_fuzz_checks.py).
    try:
        with zf:
            return _wacz_entries(path, zf, budget, skipped)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error, NotImplementedError, RuntimeError) as exc:
        raise _fail(path, f"damaged zip entry ({exc})") from exc


def _wacz_entries(
    path: Path, zf: zipfile.ZipFile, budget: _Budget, skipped: list[str]
) -> list[CapturedImage]:
    _check_zip(path, zf)
    names = set(zf.namelist())
    if "datapackage.json" in names:
        try:
            package = json.loads(budget.read(zf.open("datapackage.json"), 16 << 20, "datapackage.json"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise _fail(path, f"datapackage.json is not JSON ({exc})") from exc
        resources = package.get("resources", []) if isinstance(package, dict) else None
        if not isinstance(resources, list) or not all(isinstance(r, dict) for r in resources):
            raise _fail(path, "datapackage.json needs an object with a list of resource objects")
        for res in resources:
            rpath = res.get("path", "")
            if not isinstance(rpath, str) or rpath not in names:
                raise _fail(path, f"datapackage.json lists {rpath!r}, which the archive does not hold")
            want = str(res.get("hash", ""))
            if want.startswith("sha256:"):
                got = hashlib.sha256(budget.read(zf.open(rpath), MAX_TOTAL_BYTES, rpath)).hexdigest()
                if got != want.split(":", 1)[1]:
                    raise _fail(path, f"{rpath} does not match its hash in datapackage.json")
    warcs = sorted(n for n in names if n.startswith("archive/") and re.search(r"\.warc(\.gz)?$", n))
    if not warcs:
        raise _fail(path, "no WARC file under archive/ (not a WACZ, or its resources are missing)")
    out: list[CapturedImage] = []
    for name in warcs:
        raw = budget.read(zf.open(name), MAX_TOTAL_BYTES, name)
        out.extend(_warc_images(path, io.BytesIO(raw), name, budget, skipped))
    return out


def read_capture(path: str | Path) -> tuple[list[CapturedImage], list[str]]:
    """Every image response of a ``.wacz``, ``.warc`` or ``.warc.gz`` file, read and checked in memory."""
    p = Path(path)
    if not p.is_file():
        raise _fail(p, "no such file")
    budget, skipped = _Budget(p), []
    name = p.name.lower()
    if name.endswith(".wacz"):
        images = _wacz_images(p, budget, skipped)
    elif name.endswith((".warc", ".warc.gz")):
        with open(p, "rb") as fh:
            images = list(_warc_images(p, fh, p.name, budget, skipped))
    else:
        raise _fail(p, "not a web capture: expected .wacz, .warc or .warc.gz")
    return images, skipped


def _file_name(index: int, image: CapturedImage) -> str:
    stem = (
        re.sub(r"[^A-Za-z0-9._-]+", "_", image.url.rstrip("/").rsplit("/", 1)[-1].split("?")[0])[:80]
        or "image"
    )
    ext = "." + image.content_type.split("/", 1)[1].replace("jpeg", "jpg").replace("svg+xml", "svg")
    return f"{index:04d}-{stem}" if stem.lower().endswith(ext) else f"{index:04d}-{stem}{ext}"


def ingest_capture(ws: Workspace, path: str | Path, *, source: str = "") -> CaptureImport:
    """Ingest a web capture and each image in it; custody records capture URL, time and the archive's hash."""
    p = Path(path)
    images, skipped = read_capture(p)  # raises before anything is stored
    archive = ws.ingest(p, source=source, kind="document")
    result = CaptureImport(archive=archive, skipped=skipped)
    ws.log_custody(archive.sha256, "captured", images=len(images), skipped=skipped[:50], source=source)
    with tempfile.TemporaryDirectory(prefix="imint-capture-") as tmp:
        for i, image in enumerate(images):
            f = Path(tmp) / _file_name(i, image)
            f.write_bytes(image.data)
            ev = ws.ingest(f, source=image.url)
            ws.log_custody(
                ev.sha256,
                "captured",
                capture_url=image.url,
                capture_time=image.capture_time,
                warc_record_id=image.record_id,
                warc=image.warc,
                archive_sha256=archive.sha256,
                archive_name=p.name,
                source=source,
            )
            result.images.append(ev)
            result.urls.append(image.url)
    return result
