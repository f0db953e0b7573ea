"""Perceptual hashes of images, for finding re-encoded, resized or mirrored copies.

The method is the DCT perceptual hash (pHash, Zauner 2010) of ``imagehash`` with 64 bits: the image is
shrunk to 32 x 32 grey, and each bit says whether one of the 8 x 8 lowest DCT frequencies is above their
median. Re-encoding and resizing move few bits; a left-right mirror moves many, so every image is also
hashed mirrored and a search compares a query with both.

PDQ (Meta's 256-bit hash, ``pdqhash``) was the first choice but ``pdqhash==0.2.8`` has no wheel and its
source build fails here (December 2026), so pHash it is; ``METHOD`` records which hash a row holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps

METHOD = "phash-64"
BITS = 64


@dataclass(frozen=True)
class ImageHash:
    method: str
    hash_hex: str  # 16 hex digits
    mirror_hex: str  # the hash of the left-right mirrored image


def _phash_hex(img: Image.Image) -> str:
    import imagehash

    return str(imagehash.phash(img, hash_size=8))


def hash_image(rgb: np.ndarray) -> ImageHash:
    """pHash of an RGB ``(h, w, 3)`` uint8 image as displayed (EXIF rotation already applied)."""
    img = Image.fromarray(np.ascontiguousarray(rgb))
    return ImageHash(METHOD, _phash_hex(img), _phash_hex(ImageOps.mirror(img)))


def hex_to_uint64(values: list[str]) -> np.ndarray:
    return np.array([int(v, 16) for v in values], dtype=np.uint64)


def hamming(query_hex: str, hashes: np.ndarray) -> np.ndarray:
    """Bits that differ between one hash and each of an array of hashes (uint64)."""
    q = np.uint64(int(query_hex, 16))
    return np.bitwise_count(np.bitwise_xor(hashes, q)).astype(np.int64)
