"""Schemathesis hooks of scripts/contract_check.sh: generators for what the OpenAPI document names but
JSON Schema cannot generate by itself.

Nothing here filters a request or a failure. It teaches the generator the documented meaning of:
- the upload media types (``encoding.contentType`` of each file field): real image bytes, so a
  positive case is a file of the type the field documents, not arbitrary bytes; the JPEG is a
  photo with a face (scikit-image's public-domain astronaut), as the face routes' fields describe;
- the named formats imint's fields use (``geojson-polygon``, ``date-range``, ``figure``): valid
  instances of the small languages their descriptions spell out.
Negative cases still come from the schema alone (Schemathesis skips these strategies there).
"""

from __future__ import annotations

import io
import json

import schemathesis
from hypothesis import strategies as st


def _image_bytes(fmt: str) -> bytes:
    from PIL import Image
    from skimage import data

    image = Image.fromarray(data.astronaut()).resize((256, 256))
    buf = io.BytesIO()
    image.save(buf, fmt)
    return buf.getvalue()


schemathesis.openapi.media_type("image/jpeg", st.just(_image_bytes("JPEG")))
schemathesis.openapi.media_type("image/png", st.just(_image_bytes("PNG")))


@st.composite
def _polygon(draw: st.DrawFn) -> str:
    lon = draw(st.floats(-170, 170, allow_nan=False))
    lat = draw(st.floats(-80, 80, allow_nan=False))
    w = draw(st.floats(0.001, 5, allow_nan=False))
    h = draw(st.floats(0.001, 5, allow_nan=False))
    ring = [[lon, lat], [lon + w, lat], [lon + w, lat + h], [lon, lat + h], [lon, lat]]
    return json.dumps({"type": "Polygon", "coordinates": [ring]})


@st.composite
def _date_range(draw: st.DrawFn) -> str:
    import datetime as dt

    days = st.dates(dt.date(1900, 1, 1), dt.date(2100, 12, 31))
    first, last = sorted((draw(days), draw(days)))
    form = draw(st.sampled_from(["day", "month", "range", "dots"]))
    if form == "day":
        return first.isoformat()
    if form == "month":
        return first.isoformat()[:7]
    return f"{first.isoformat()}{'/' if form == 'range' else '..'}{last.isoformat()}"


@st.composite
def _figure(draw: st.DrawFn) -> str:
    low, high = sorted((draw(st.integers(0, 10**6)), draw(st.integers(0, 10**6))))
    unit = draw(st.sampled_from(["", " troops", " ships", " vehicles"]))
    return draw(st.sampled_from([f"{low}{unit}", f"{low}-{high}{unit}", f"up to {high}{unit}"]))


schemathesis.openapi.format("geojson-polygon", _polygon())
schemathesis.openapi.format("date-range", _date_range())
schemathesis.openapi.format("figure", _figure())
