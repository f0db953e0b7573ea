"""Turning report data into files: the Jinja templates, one self-contained HTML file and its PDF.

What goes into a report is the assembler's business (the cases part builds the case report); this
module only renders a template and writes the outputs, the PDF printed from the HTML by headless
Chromium (``imint.report.browser``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2

from imint.report.browser import html_to_pdf

TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ReportPaths:
    html: Path | None
    pdf: Path | None
    console_errors: list[str] = field(default_factory=list)


def _details(d: dict[str, Any] | None) -> str:
    return ", ".join(f"{k}={v}" for k, v in (d or {}).items() if v not in ("", None))


def render_html(data: dict[str, Any], template: str = "report.html") -> str:
    """``template`` (one of :data:`TEMPLATES`) filled with ``data``; a missing key is an error, not a gap."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["short"] = lambda sha: sha[:12]
    env.filters["details"] = _details
    return env.get_template(template).render(**data)


def write_text_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(
    text: str,
    *,
    html_out: Path,
    pdf_out: Path,
    html: bool = True,
    pdf: bool = True,
    footer: str | None = None,
    chromium: str = "",
) -> ReportPaths:
    """Write the HTML ``text`` to ``html_out`` and, if asked, print it to ``pdf_out``."""
    # The PDF is printed from the HTML, so the HTML is written even when only the PDF is asked for.
    target_html = html_out if html else pdf_out.with_name(f".{pdf_out.stem}.source.html")
    write_text_atomic(target_html, text)
    console_errors: list[str] = []
    written_pdf: Path | None = None
    try:
        if pdf:
            console_errors = html_to_pdf(target_html, pdf_out, footer=footer, binary=chromium).errors
            written_pdf = pdf_out
    finally:
        if not html:
            target_html.unlink(missing_ok=True)
    return ReportPaths(html_out if html else None, written_pdf, console_errors)
