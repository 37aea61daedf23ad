"""A small document model rendered as Markdown and as one self-contained HTML page.

``report.md`` and ``report.html`` (:mod:`bayes_sdm.report`) are two renderings of one
:class:`Document` -- a title and a list of blocks (:class:`Heading`, :class:`Paragraph`,
:class:`Table`, :class:`Bullets`, :class:`Figure`, :class:`Code`) -- so they cannot say
different things.  Paragraphs and table cells may use three inline marks, ``**strong**``,
``*emphasis*`` and ```code```, which Markdown keeps and HTML translates.

The HTML page is self-contained: its style sheet is inline and every figure is embedded as a
base64 ``data:`` URI, so the file opens anywhere (mail, a browser offline) and references
nothing outside itself (no scripts, no links to other files or sites).
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd


@dataclass
class Heading:
    text: str
    level: int = 2


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: list[str]


@dataclass
class Code:
    text: str
    language: str = ""


@dataclass
class Table:
    """A DataFrame shown with numbers to ``digits`` significant digits."""

    frame: pd.DataFrame | None
    digits: int = 4
    columns: Sequence[str] | None = None
    rename: dict | None = None


@dataclass
class Figure:
    """A PNG file, with a title and a caption."""

    path: Path
    title: str
    caption: str = ""


@dataclass
class Document:
    title: str
    blocks: list = field(default_factory=list)

    def add(self, *blocks) -> Document:
        self.blocks.extend(blocks)
        return self


class Strong(str):
    """A table cell shown in bold (a failed check)."""


def format_cell(v, digits: int = 4) -> str:
    """A table cell: numbers to ``digits`` significant digits, booleans yes / no (no in bold),
    missing values empty."""
    if v is None:
        return ""
    if isinstance(v, bool | np.bool_):
        return "yes" if v else Strong("no")
    if isinstance(v, int | np.integer):
        return str(int(v))
    if isinstance(v, float | np.floating):
        if not np.isfinite(v):
            return ""
        a = abs(float(v))
        if a != 0 and (a < 1e-3 or a >= 1e5):
            return f"{float(v):.{digits - 1}e}"
        return f"{float(v):.{digits}g}"
    return str(v)


def _table_cells(t: Table):
    d = t.frame[list(t.columns)] if t.columns else t.frame
    cols = [str((t.rename or {}).get(c, c)) for c in d.columns]
    num = [pd.api.types.is_numeric_dtype(d[c]) and not pd.api.types.is_bool_dtype(d[c])
           for c in d.columns]
    rows = [[format_cell(v, t.digits) for v in row] for row in d.itertuples(index=False)]
    return cols, num, rows


# ----------------------------------------------------------------------------- Markdown
def markdown_table(t: Table) -> str:
    """A GitHub-flavoured Markdown table (``_(none)_`` when empty)."""
    if t.frame is None or len(t.frame) == 0:
        return "_(none)_\n"
    cols, num, rows = _table_cells(t)
    lines = ["| " + " | ".join(cols) + " |",
             "|" + "|".join("---:" if n else ":---" for n in num) + "|"]
    for row in rows:
        cells = [f"**{c}**" if isinstance(c, Strong) else c.replace("|", "\\|") for c in row]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def to_markdown(doc: Document, base: Path | None = None) -> str:
    """The document as Markdown; figures are linked relative to ``base`` (the report's
    folder)."""
    out = [f"# {doc.title}", ""]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out += ["#" * b.level + " " + b.text, ""]
        elif isinstance(b, Paragraph):
            out += [b.text, ""]
        elif isinstance(b, Bullets):
            out += [f"- {i}" for i in b.items] + [""]
        elif isinstance(b, Code):
            out += [f"```{b.language}", b.text.rstrip(), "```", ""]
        elif isinstance(b, Table):
            out.append(markdown_table(b))
        elif isinstance(b, Figure):
            rel = Path(b.path)
            if base is not None:
                try:
                    rel = rel.resolve().relative_to(Path(base).resolve())
                except ValueError:
                    pass
            out += [f"### {b.title}", "", f"![{Path(b.path).stem}]({rel.as_posix()})", ""]
            if b.caption:
                out += [f"*{b.caption}*", ""]
        else:
            raise TypeError(f"unknown block {type(b).__name__}")
    return "\n".join(out).rstrip() + "\n"


# ----------------------------------------------------------------------------- HTML
_INLINE = [(re.compile(r"\*\*(.+?)\*\*"), r"<strong>\1</strong>"),
           (re.compile(r"(?<![\w*])\*(?!\s)(.+?)(?<!\s)\*(?![\w*])"), r"<em>\1</em>"),
           (re.compile(r"`([^`]+)`"), r"<code>\1</code>")]

STYLE = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; padding: 0 1em; color: #222; line-height: 1.45; }
h1 { font-size: 1.6em; border-bottom: 2px solid #ddd; padding-bottom: .3em; }
h2 { font-size: 1.3em; border-bottom: 1px solid #eee; padding-bottom: .2em; margin-top: 1.6em; }
h3 { font-size: 1.05em; margin-bottom: .3em; }
table { border-collapse: collapse; margin: .6em 0 1em; font-size: .9em; }
th, td { border: 1px solid #ccc; padding: .25em .6em; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tbody tr:nth-child(even) { background: #fafafa; }
figure { margin: 1em 0 2em; }
figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { font-size: .9em; color: #444; font-style: italic; }
pre { background: #f6f6f6; padding: .8em; overflow-x: auto; font-size: .85em; }
code { font-size: .95em; }
"""


def inline_html(text: str) -> str:
    """Escape ``text`` and translate the inline marks (module docstring)."""
    s = html.escape(str(text), quote=False)
    for pat, rep in _INLINE:
        s = pat.sub(rep, s)
    return s


def html_table(t: Table) -> str:
    """An HTML table (``<p><em>(none)</em></p>`` when empty)."""
    if t.frame is None or len(t.frame) == 0:
        return "<p><em>(none)</em></p>"
    cols, num, rows = _table_cells(t)
    out = ["<table>", "<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in cols)
           + "</tr></thead>", "<tbody>"]
    for row in rows:
        cells = []
        for c, n in zip(row, num, strict=True):
            text = f"<strong>{html.escape(c)}</strong>" if isinstance(c, Strong) \
                else html.escape(c)
            cells.append(f'<td class="num">{text}</td>' if n else f"<td>{text}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out += ["</tbody>", "</table>"]
    return "\n".join(out)


def image_data_uri(path: Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


def to_html(doc: Document) -> str:
    """The document as one self-contained HTML page (module docstring)."""
    e = html.escape
    out = ["<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           f"<title>{e(doc.title)}</title>", f"<style>{STYLE}</style>", "</head>", "<body>",
           f"<h1>{e(doc.title)}</h1>"]
    for b in doc.blocks:
        if isinstance(b, Heading):
            out.append(f"<h{b.level}>{inline_html(b.text)}</h{b.level}>")
        elif isinstance(b, Paragraph):
            out.append(f"<p>{inline_html(b.text)}</p>")
        elif isinstance(b, Bullets):
            out.append("<ul>" + "".join(f"<li>{inline_html(i)}</li>" for i in b.items)
                       + "</ul>")
        elif isinstance(b, Code):
            out.append(f"<pre><code>{e(b.text.rstrip())}</code></pre>")
        elif isinstance(b, Table):
            out.append(html_table(b))
        elif isinstance(b, Figure):
            out.append(f'<figure><h3>{e(b.title)}</h3><img src="{image_data_uri(b.path)}" '
                       f'alt="{e(b.title)}"><figcaption>{inline_html(b.caption)}'
                       "</figcaption></figure>")
        else:
            raise TypeError(f"unknown block {type(b).__name__}")
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
