"""The field-degradation family of ``../shared/data/faces-field/make_field.py``, with random strength.

make_field.py shrinks LFW photos by 0.5 (other photos to a 200 px long side), blurs
with a Gaussian of radius 0.6 and saves JPEG quality 30. For training we draw each
of the three from a range around that point, so the adapter learns the family,
not one exact setting.

Also the few steps every training-data builder shares: the photos of one identity split,
opened as the dev set stores them, and the labelled face of a photo.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps

from imint.faces.datasets import LabelledImage, identity_split, pick_labelled, read_face_folder
from imint.records import Faces


def split_photos(folder: Path, split: str) -> list[LabelledImage]:
    """The photos of ``folder`` whose identity belongs to ``split`` (``identity_split``)."""
    return [i for i in read_face_folder(folder).images if identity_split(i.identity) == split]


def open_photo(item: LabelledImage) -> Image.Image:
    return ImageOps.exif_transpose(Image.open(item.path)).convert("RGB")


def labelled_face(detector: Any, image: np.ndarray, item: LabelledImage, **options: Any) -> Faces | None:
    """The labelled face of ``item`` found in ``image`` (one row), or None; ``options`` go to detect."""
    faces = detector.detect(image, **options)
    j = pick_labelled(faces.boxes, image.shape[1], image.shape[0], item.labelled_face_rule)
    return None if j is None else faces.select([j])


def degrade(
    image: Image.Image, is_lfw: bool, scale: float, blur_radius: float, jpeg_quality: int
) -> Image.Image:
    """Apply the make_field.py steps with the given strengths (``scale`` is for LFW's 150 px photos;
    other photos get the same relative long side, 200 px at the recipe's 0.5)."""
    im = image.convert("RGB")
    w, h = im.size
    s = scale if is_lfw else min(1.0, 400 * scale / max(w, h))
    im = im.resize((max(1, round(w * s)), max(1, round(h * s))), Image.BILINEAR)
    if blur_radius > 0:
        im = im.filter(ImageFilter.GaussianBlur(blur_radius))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=int(jpeg_quality))
    buf.seek(0)
    return Image.open(buf).convert("RGB")


def random_strength(rng: np.random.Generator) -> tuple[float, float, int]:
    """(scale, blur radius, JPEG quality) around the recipe's (0.5, 0.6, 30)."""
    return float(rng.uniform(0.35, 0.8)), float(rng.uniform(0.0, 1.1)), int(rng.integers(15, 76))
