"""Building blocks of the HTML report: inline style, page frame, escaped text, tables, images.

Everything here returns HTML strings. Text from data or configuration goes through
:func:`html.escape`; tables come from labelled results through :meth:`pandas.DataFrame.to_html`
(which escapes cells and headers); images are PNG bytes embedded as ``data:`` URIs, so the page
makes no request of any kind when opened.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

import pandas as pd
from matplotlib.figure import Figure

from factorprobe.stimuli.sheet import DISPLAY_WIDTH

STYLE = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --band: #f6f8fa; --accent: #0b5cad; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); background: #fff; }
header { padding: 18px 32px 10px; border-bottom: 3px solid var(--accent); background: var(--band); }
header h1 { margin: 0 0 4px; font-size: 24px; }
header p { margin: 2px 0; color: var(--muted); }
nav { padding: 8px 32px; border-bottom: 1px solid var(--line); font-size: 14px; }
nav a { margin-right: 14px; color: var(--accent); text-decoration: none; white-space: nowrap; }
main { padding: 0 32px 40px; max-width: 1500px; }
section { border-bottom: 1px solid var(--line); padding: 8px 0 18px; }
h2 { font-size: 21px; margin: 22px 0 8px; }
h3 { font-size: 17px; margin: 18px 0 6px; }
h4 { font-size: 15px; margin: 14px 0 4px; color: var(--muted); }
ul.glance { margin: 6px 0 12px; padding-left: 20px; max-width: 1100px; }
ul.glance li { margin: 3px 0; }
p.note { color: var(--muted); font-size: 13px; margin: 4px 0 10px; max-width: 980px; }
div.table { overflow-x: auto; margin: 6px 0 12px; }
table { border-collapse: collapse; font-size: 13px; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid var(--line); padding: 3px 8px; text-align: right; white-space: nowrap; }
thead th { background: var(--band); text-align: center; white-space: normal; min-width: 4em; }
tbody th { text-align: left; background: var(--band); }
figure { margin: 8px 0 14px; }
figure img { max-width: 100%; height: auto; border: 1px solid var(--line); }
figcaption { color: var(--muted); font-size: 13px; max-width: 980px; }
div.row { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
div.row > figure { flex: 0 1 auto; min-width: 0; }
figure.sheet img { width: min(100%, SHEET_WIDTHpx); }
table.text td { text-align: left; white-space: normal; }
pre { background: var(--band); border: 1px solid var(--line); padding: 10px 12px; overflow-x: auto;
      font-size: 12.5px; line-height: 1.4; max-height: 640px; }
""".replace("SHEET_WIDTH", str(DISPLAY_WIDTH))


def text(value: object) -> str:
    """Escape any value for HTML text or attribute content."""
    return html.escape(str(value), quote=True)


def page(title: str, subtitle: Sequence[str], nav: Sequence[tuple[str, str]], body: str) -> str:
    """The whole document: head with inline style, header, contents links, main body."""
    links = "".join(f'<a href="#{text(anchor)}">{text(label)}</a>' for anchor, label in nav)
    lines = "".join(f"<p>{text(line)}</p>" for line in subtitle)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{text(title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
        f"<header><h1>{text(title)}</h1>{lines}</header>\n"
        f"<nav>{links}</nav>\n<main>\n{body}\n</main>\n</body>\n</html>\n"
    )


def section(anchor: str, title: str, parts: Sequence[str]) -> str:
    """A ``<section>`` with an id (a safe anchor chosen by the caller) and an escaped heading."""
    return (
        f'<section id="{text(anchor)}">\n<h2>{text(title)}</h2>\n'
        + "\n".join(parts)
        + "\n</section>"
    )


def heading(level: int, title: str) -> str:
    return f"<h{level}>{text(title)}</h{level}>"


def glance(items: Sequence[tuple[str, str]]) -> str:
    """The first screen's sentences: a list, one item per layer (``data-layer`` names it)."""
    lines = "".join(f'<li data-layer="{text(name)}">{text(value)}</li>' for name, value in items)
    return f'<ul class="glance" id="glance">{lines}</ul>'


def card_links(units: Sequence[tuple[str, int]]) -> str:
    """A line linking units to their cards further down the page (ids ``card-<layer>-<i>``)."""
    links = ", ".join(
        f'<a href="#card-{text("".join(c if c.isalnum() else "-" for c in layer))}-{int(i)}">'
        f"{text(layer)}[{int(i)}]</a>"
        for layer, i in units
    )
    return f'<p class="note">Unit cards: {links}.</p>'


def note(value: str) -> str:
    return f'<p class="note">{text(value)}</p>'


def table(frame: pd.DataFrame, *, index: bool = True, digits: int = 3) -> str:
    """A DataFrame as an escaped HTML table in a horizontally scrolling box.

    A named single index moves its name to the top-left corner (no extra header row).
    """
    if index and frame.index.nlevels == 1 and frame.columns.nlevels == 1 and frame.index.name:
        # pandas takes any Hashable axis name; pandas-stubs types 'columns' as str-like only
        frame = frame.rename_axis(index=None, columns=frame.index.name)  # type: ignore[call-overload]
    text_only = all(dtype.kind in "OSUT" for dtype in frame.dtypes)
    body = frame.to_html(
        escape=True,
        classes="text" if text_only else None,
        index=index,
        border=0,
        na_rep="–",
        float_format=lambda v: f"{v:.{digits}g}" if abs(v) < 1e-3 and v != 0 else f"{v:.{digits}f}",
    )
    return f'<div class="table">{body}</div>'


def png_bytes(fig: Figure, *, dpi: int) -> bytes:
    """A figure rendered to PNG in memory (no file, no pyplot)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    return buffer.getvalue()


def image(png: bytes, *, alt: str, caption: str = "", css: str = "") -> str:
    """A ``<figure>`` holding PNG bytes as a base64 data URI, with an escaped caption."""
    data = base64.b64encode(png).decode("ascii")
    cap = f"<figcaption>{text(caption)}</figcaption>" if caption else ""
    cls = f' class="{text(css)}"' if css else ""
    return f'<figure{cls}><img alt="{text(alt)}" src="data:image/png;base64,{data}">{cap}</figure>'


def row(parts: Sequence[str]) -> str:
    """Figures side by side, wrapping on narrow windows."""
    return '<div class="row">' + "".join(parts) + "</div>"


def preformatted(value: str) -> str:
    return f"<pre>{text(value)}</pre>"
