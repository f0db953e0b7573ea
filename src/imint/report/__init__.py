"""Case reports: one self-contained HTML file and its PDF (printed by headless Chromium)."""

from imint.report.build import ReportPaths, build_report, register_card_renderer

__all__ = ["ReportPaths", "build_report", "register_card_renderer"]
