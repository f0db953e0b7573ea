"""Reading images safely: bad files get a clear error naming the file and the problem."""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from imint.errors import BadInputError

# A 50,000 x 50,000 px "decompression bomb" must be refused before it is decoded.
MAX_PIXELS = 120_000_000
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".gif"}


def _to_rgb8(img: Image.Image, name: str) -> np.ndarray:
    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit (or 32-bit int) grayscale: stretch to 8 bits instead of clipping to white.
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = np.percentile(arr, [0.5, 99.5]) if arr.size else (0.0, 1.0)
        arr = np.clip((arr - lo) / max(hi - lo, 1e-9) * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = np.nanmin(arr), np.nanmax(arr)
        arr = np.clip((arr - lo) / max(hi - lo, 1e-9) * 255.0, 0, 255).astype(np.uint8)
        return np.repeat(arr[..., None], 3, axis=2)
    if img.mode in ("RGBA", "LA", "P", "PA"):
        # Composite transparency over white so transparent pixels do not turn black.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("RGB"), dtype=np.uint8)


def decode_image(data: bytes, name: str = "<bytes>", *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Decode image bytes into an RGB uint8 array ``(h, w, 3)``, EXIF rotation applied."""
    if not data:
        raise BadInputError("empty file (0 bytes)", subject=name)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data))
            w, h = img.size
            if w * h > max_pixels:
                raise BadInputError(
                    f"image too large: {w} x {h} px ({w * h / 1e6:.0f} MP), over the {max_pixels / 1e6:.0f} MP limit",
                    subject=name,
                )
            img.load()
    except BadInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise BadInputError(f"image too large to decode safely ({exc})", subject=name) from exc
    except UnidentifiedImageError as exc:
        raise BadInputError("not an image (unrecognised format)", subject=name) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise BadInputError(f"truncated or corrupt image ({exc})", subject=name) from exc
    try:
        img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not lose the pixels
        pass
    return _to_rgb8(img, name)


def load_image_file(path: str | Path, *, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Load an image file as RGB uint8 ``(h, w, 3)`` (like face_recognition's function of that name)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError as exc:
        raise BadInputError("no such file", subject=p) from exc
    except IsADirectoryError as exc:
        raise BadInputError("is a folder, not an image", subject=p) from exc
    return decode_image(data, str(p), max_pixels=max_pixels)
