"""Reading images: every odd format becomes RGB uint8, every bad file a clear error."""

import numpy as np
import pytest
from PIL import Image

from imint.errors import BadInputError
from imint.media.images import load_image_file
from tests.conftest import astronaut


def test_bad_files_are_named_with_their_problem(bad_files):
    expectations = {
        "text": "not an image",
        "empty": "0 bytes",
        "truncated": "truncated or corrupt",
        "bomb": "image too large",
    }
    for key, message in expectations.items():
        with pytest.raises(BadInputError, match=message) as info:
            load_image_file(bad_files[key])
        assert bad_files[key].name in str(info.value)


def test_grayscale_rgba_and_16_bit_become_rgb8(tmp_path):
    rgb = astronaut()
    gray = tmp_path / "gray.png"
    Image.fromarray(rgb).convert("L").save(gray)
    rgba = tmp_path / "rgba.png"
    Image.fromarray(rgb).convert("RGBA").save(rgba)
    deep = tmp_path / "deep.png"
    Image.fromarray(np.asarray(Image.fromarray(rgb).convert("L"), np.uint16) * 257).save(deep)
    for path in (gray, rgba, deep):
        img = load_image_file(path)
        assert img.dtype == np.uint8 and img.shape == (512, 512, 3), path.name
    # A 16-bit image is stretched, not clipped to white.
    assert 60 < load_image_file(deep).mean() < 200


def test_exif_rotation_is_applied(tmp_path):
    rgb = astronaut()[:, :400]  # 512 x 400: portrait
    rotated = Image.fromarray(rgb).transpose(Image.Transpose.ROTATE_90)  # stored as landscape
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 CW to display
    path = tmp_path / "rotated.jpg"
    rotated.save(path, exif=exif)
    img = load_image_file(path)
    assert img.shape[:2] == (512, 400)
