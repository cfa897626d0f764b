"""One self-contained HTML page from the report's Markdown and interactive figures: ``results/report.html``.

The sections and tables are the Markdown report's own (rendered by markdown-it-py), so the two formats cannot
disagree and the tables read without JavaScript; the interactive figures (Plotly) sit in the sections they belong
to; the figures without an interactive twin are embedded as PNG data. Plotly's JavaScript is inlined once from the
Python package (MIT licence), the styles are inline and use the system's fonts: nothing is fetched at view time.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import plotly.graph_objects as go
import plotly.io
import plotly.offline
from markdown_it import MarkdownIt

HEADING = re.compile(r"^(#{2,3}) (.+)$", re.MULTILINE)
PLOTLY_CONFIG = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png", "scale": 2}}

STYLE = """
:root { color-scheme: light; --ink: #1b1b1b; --muted: #555; --rule: #d0d0d0; --band: #f4f6f8; }
body { font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: var(--ink); margin: 0 auto; max-width: 78rem; padding: 0 1.5rem 4rem; }
h1 { font-size: 1.7rem; margin: 1.5rem 0 0.5rem; }
h2 { font-size: 1.35rem; border-bottom: 1px solid var(--rule); padding-bottom: 0.2rem; margin-top: 2.2rem; }
h3 { font-size: 1.1rem; margin-top: 1.6rem; }
nav { background: var(--band); border: 1px solid var(--rule); border-radius: 6px; padding: 0.5rem 1rem; }
nav ol { columns: 2; margin: 0.3rem 0; }
.table-wrap { overflow-x: auto; margin: 0.8rem 0; }
table { border-collapse: collapse; font-size: 0.86rem; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--rule); padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
th { background: var(--band); }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1.2rem 0; border: 1px solid var(--rule); border-radius: 6px; padding: 0.5rem; }
figcaption { color: var(--muted); font-size: 0.85rem; margin-top: 0.3rem; }
figure img { max-width: 100%; height: auto; }
code { background: var(--band); padding: 0 0.2rem; border-radius: 3px; }
.noscript { background: #fff4e5; border: 1px solid #f0c36d; padding: 0.5rem 1rem; }
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  nav, .modebar, .updatemenu-container, .rangeslider-container { display: none !important; }
  figure, table { break-inside: avoid; }
  h2, h3 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
}
"""


@dataclass(frozen=True)
class PageFigure:
    """A figure in a section: interactive (a Plotly figure) or static (a PNG file, embedded)."""

    caption: str
    figure: go.Figure | None = None
    png: Path | None = None

    def html(self, div_id: str) -> str:
        if self.figure is not None:
            body = plotly.io.to_html(self.figure, full_html=False, include_plotlyjs=False, div_id=div_id,
                                     config=PLOTLY_CONFIG)
        elif self.png is not None:
            data = base64.b64encode(self.png.read_bytes()).decode()
            body = f'<img src="data:image/png;base64,{data}" alt="{html.escape(self.png.stem)}">'
        else:
            raise ValueError("a page figure needs a Plotly figure or a PNG file")
        return f'<figure class="report-figure">{body}<figcaption>{html.escape(self.caption)}</figcaption></figure>\n'


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60] or "section"


def markdown_html(text: str) -> str:
    """CommonMark with tables; headings get ids for the contents; tables scroll sideways on a narrow screen."""
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(text)
    for heading, inline in pairwise(tokens):
        if heading.type == "heading_open":
            heading.attrSet("id", slug(inline.content))
    rendered: str = parser.renderer.render(tokens, parser.options, {})
    return rendered.replace("<table>", '<div class="table-wrap"><table>').replace("</table>", "</table></div>")


def sections(markdown: str) -> list[tuple[str, str]]:
    """The Markdown split before every level-2 and level-3 heading: (heading text, its block)."""
    starts = [match.start() for match in HEADING.finditer(markdown)]
    blocks = [markdown[start:end] for start, end in zip([0, *starts], [*starts, len(markdown)], strict=True)]
    return [((match.group(2) if (match := HEADING.match(block)) else ""), block) for block in blocks if block]


def contents(markdown: str) -> str:
    items = "".join(f'<li><a href="#{slug(match.group(2))}">{html.escape(match.group(2).split(" (")[0])}</a></li>'
                    for match in HEADING.finditer(markdown) if match.group(1) == "##")
    return f'<nav aria-label="Contents"><strong>Contents</strong><ol>{items}</ol></nav>\n'


def render_page(title: str, markdown: str, figures: dict[str, list[PageFigure]]) -> str:
    """The page: the Markdown's sections in order, after each section the figures placed under its heading
    (``figures`` keys: the start of a heading's text)."""
    body, number = [], 0
    for heading, block in sections(markdown):
        body.append(markdown_html(block))
        for key, placed in figures.items():
            if heading and heading.startswith(key):
                for figure in placed:
                    number += 1
                    body.append(figure.html(f"figure-{number}"))
    first_heading = next(HEADING.finditer(markdown), None)
    nav = contents(markdown)
    page_body = "".join(body)
    if first_heading is not None:  # the contents after the title and banner, before the first section
        split = page_body.find("<h2")
        page_body = page_body[:split] + nav + page_body[split:]
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n"
        "<!-- plotly.js, from the plotly Python package (MIT licence, https://github.com/plotly/plotly.js) -->\n"
        f"<script>{plotly.offline.get_plotlyjs()}</script>\n</head>\n<body>\n"
        "<noscript><p class=\"noscript\">The tables read without JavaScript; the interactive figures need it.</p>"
        "</noscript>\n"
        f"{page_body}</body>\n</html>\n")
