"""report.html: report.md as one self-contained page. Checked as text (every table and
figure of report.md is in it, figures embedded, nothing fetched from the network) and, where
a Chromium is installed, in a real headless browser: it renders (a screenshot that is not
blank), its images decode, and clicking a header sorts a table."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest
from PIL import Image

from rmdbench.reports.report import ReportOptions, build_report
from tests.reports.test_reports import store  # noqa: F401 - the hand-written store fixture

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
WINDOW = (1000, 800)
#: run in the page after it loaded: count decoded images, click the r=0.8 header of the
#: first table and record its column's texts, for --dump-dom to show
PROBE = """<script>
window.addEventListener("load", function () {
  var images = Array.prototype.filter.call(document.images, function (image) {
    return image.complete && image.naturalWidth > 0;
  });
  document.body.setAttribute("data-decoded", String(images.length));
  var table = document.querySelector("table");
  var headers = Array.prototype.map.call(table.tHead.rows[0].cells, function (c) {
    return c.textContent.trim();
  });
  var column = headers.indexOf("r=0.8");
  function cells() {
    return Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return row.cells[column].textContent.trim();
    }).join("|");
  }
  document.body.setAttribute("data-unsorted", cells());
  table.tHead.rows[0].cells[column].click();
  document.body.setAttribute("data-sorted", cells());
});
</script>"""


def browser() -> str | None:
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


@pytest.fixture(scope="module")
def report(store, tmp_path_factory):  # noqa: F811
    out = tmp_path_factory.mktemp("html")
    return build_report(store, out, ReportOptions(metrics=("dsc",)))


def markdown_tables(text: str) -> list[int]:
    """The number of body rows of each pipe table of a markdown text."""
    tables, rows = [], None
    for line in text.splitlines():
        if re.match(r"^\|[-:| ]+\|$", line):
            rows = 0
        elif line.startswith("|") and rows is not None:
            rows += 1
        elif rows is not None:
            tables.append(rows)
            rows = None
    return tables + ([rows] if rows is not None else [])


def test_the_page_holds_every_table_and_figure_of_the_markdown(report):
    markdown = report.path.read_text()
    page = (report.path.parent / "report.html").read_text()
    assert report.path.parent / "report.html" in report.files
    assert page.count("<table>") == len(markdown_tables(markdown)) > 5
    assert page.count("<tr>") == sum(markdown_tables(markdown)) + len(markdown_tables(markdown))
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert len(figures) >= 5 and "qualitative.png" in figures
    assert page.count('src="data:image/png;base64,') == len(figures)
    for name in figures:
        assert f'src="{name}"' not in page
    for text in ("Conventions: ", "## Provenance"[3:], "Packages: numpy 2.x, torch 2.x"):
        assert text in page
    # self-contained: nothing to fetch
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert "<link" not in page and "@import" not in page and "url(" not in page


@pytest.mark.skipif(
    browser() is None, reason="no chromium on this machine (apt-get install chromium)"
)
def test_the_page_renders_in_a_headless_browser(report, tmp_path):
    page = report.path.parent / "report.html"
    command = [browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    shot = tmp_path / "shot.png"
    subprocess.run(
        [*command, f"--window-size={WINDOW[0]},{WINDOW[1]}", f"--screenshot={shot}", page.as_uri()],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Image.open(shot) as image:
        assert image.size == WINDOW
        pixels = np.asarray(image.convert("L"))
    assert (pixels < 200).mean() > 0.02  # text and table lines, not a blank page
    assert len(np.unique(pixels)) > 20

    probed = tmp_path / "probed.html"
    probed.write_text(page.read_text().replace("</body>", PROBE + "</body>"))
    dom = subprocess.run(
        [*command, "--virtual-time-budget=10000", "--dump-dom", probed.as_uri()],
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    markdown = report.path.read_text()
    figures = re.findall(r"!\[[^\]]*\]\(([^)]+\.png)\)", markdown)
    assert dom.count("<table>") == len(markdown_tables(markdown))
    assert dom.count("<img ") == len(figures)
    assert f'data-decoded="{len(figures)}"' in dom  # every figure decoded in the browser
    unsorted = re.search(r'data-unsorted="([^"]*)"', dom).group(1)
    sorted_cells = re.search(r'data-sorted="([^"]*)"', dom).group(1).split("|")
    assert unsorted != "|".join(sorted_cells)  # the click reordered the rows
    numbers = [float(re.match(r"[\d.]+", cell).group()) for cell in sorted_cells if cell]
    assert len(numbers) >= 3 and numbers == sorted(numbers)
    assert 'aria-sort="ascending"' in dom
