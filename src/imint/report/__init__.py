"""Reports: cards, figures and one self-contained HTML file (images inlined) with its PDF.

Below the parts, importing none of them: ``cards`` (the :class:`~imint.report.cards.Card` a part's
renderer returns, and the card of plain evidence), ``figures`` (thumbnails, charts, the map and the
timeline as data URIs), ``html`` (templates to HTML, HTML to PDF) and ``browser`` (headless Chromium).
The case report is assembled by the cases part, ``imint.cases.report``, from every part's cards.
"""
