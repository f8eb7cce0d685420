"""report.html: report.md as one self-contained page, for reading without a markdown viewer
and for sending as one file.

The page is rendered from the markdown text itself (markdown-it-py, CommonMark with
tables), so it shows exactly the tables, footnotes, conventions and provenance report.md
shows. Each figure the markdown links is embedded as a base64 PNG data URI; a figure file
that is missing keeps its link. Clicking a table header sorts the table by that column
(numbers as numbers, blanks last; again to reverse): a few lines of inline script.
Nothing is fetched from the network: no font, stylesheet or script comes from outside."""

from __future__ import annotations

import base64
import html
from pathlib import Path

from markdown_it import MarkdownIt  # a dependency of rich

MIME = {".png": "image/png", ".svg": "image/svg+xml", ".jpg": "image/jpeg"}

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 78rem; margin: 2rem auto;
  padding: 0 1rem; line-height: 1.45; color: #1a1a1a; }
table { border-collapse: collapse; margin: 0.6rem 0; font-size: 0.9rem; }
th, td { border-bottom: 1px solid #ccc; padding: 0.2rem 0.6rem; }
th { cursor: pointer; user-select: none; background: #f2f2f2; }
th[aria-sort="ascending"]::after { content: " \\25B2"; }
th[aria-sort="descending"]::after { content: " \\25BC"; }
blockquote { margin: 0.4rem 0 1rem; padding-left: 0.8rem; border-left: 3px solid #ccc;
  color: #444; font-size: 0.88rem; }
img { max-width: 100%; height: auto; }
code { background: #f2f2f2; padding: 0 0.2rem; }
"""

#: sort a table by a clicked header: numbers as numbers (a cell's leading number), text as
#: text, empty cells last; a second click reverses
SCRIPT = """
(function () {
  function key(cell) {
    var text = cell.textContent.trim().replace("\\u2212", "-");
    if (!text) return null;
    var number = text.match(/^[-+]?(\\d+\\.?\\d*|\\.\\d+)(e[-+]?\\d+)?/i);
    return number ? parseFloat(number[0]) : text.toLowerCase();
  }
  function compare(a, b) {
    if (a === null || b === null) return a === b ? 0 : (a === null ? 1 : -1);
    if (typeof a !== typeof b) return typeof a === "number" ? -1 : 1;
    return a < b ? -1 : (a > b ? 1 : 0);
  }
  document.querySelectorAll("table").forEach(function (table) {
    var headers = table.querySelectorAll("thead th");
    headers.forEach(function (header, column) {
      header.addEventListener("click", function () {
        var down = header.getAttribute("aria-sort") === "ascending";
        headers.forEach(function (other) { other.removeAttribute("aria-sort"); });
        header.setAttribute("aria-sort", down ? "descending" : "ascending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (x, y) {
          var a = key(x.cells[column]), b = key(y.cells[column]);
          if (a === null || b === null) return compare(a, b);
          return down ? -compare(a, b) : compare(a, b);
        });
        rows.forEach(function (row) { body.appendChild(row); });
      });
    });
  });
})();
"""


def _embed_images(tokens: list, folder: Path) -> None:
    """Replace each image's file name by the file's content as a data URI."""
    for token in tokens:
        for child in token.children or []:
            if child.type != "image":
                continue
            source = Path(str(child.attrGet("src") or ""))
            path = folder / source
            mime = MIME.get(source.suffix.lower())
            if mime and not source.is_absolute() and path.is_file():
                data = base64.b64encode(path.read_bytes()).decode("ascii")
                child.attrSet("src", f"data:{mime};base64,{data}")


def render_html(markdown: str, folder: Path) -> str:
    """The page of ``markdown``, its images read from ``folder``."""
    parser = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = parser.parse(markdown)
    _embed_images(tokens, folder)
    body = parser.renderer.render(tokens, parser.options, {})
    title = next(
        (line.lstrip("# ").strip() for line in markdown.splitlines() if line.startswith("# ")),
        "rmdbench report",
    )
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{html.escape(title)}</title>\n<style>{STYLE}</style>\n</head>\n"
        f"<body>\n{body}<script>{SCRIPT}</script>\n</body>\n</html>\n"
    )


def write_html(markdown: str, folder: Path, path: Path) -> Path:
    """Write report.html beside report.md; return its path."""
    path.write_text(render_html(markdown, folder), encoding="utf-8")
    return path
