"""Every relative link in the README and docs points at a file that exists: docs that move
(a report re-rendered elsewhere, a page renamed) must not leave readers at a dead link."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: [text](target) and ![alt](target); the target ends at whitespace or ")"
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
EXTERNAL = ("http://", "https://", "mailto:", "#")


def markdown_files() -> list[Path]:
    return [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]


def relative_links(page: Path) -> list[str]:
    """The page's link targets that name a file of this repository, without anchors; code
    spans and fenced blocks are left out (they show commands, not links)."""
    text = re.sub(r"```.*?```", "", page.read_text(encoding="utf-8"), flags=re.DOTALL)
    text = re.sub(r"`[^`\n]*`", "", text)
    targets = (match.group(1) for match in LINK.finditer(text))
    return [target.split("#", 1)[0] for target in targets if not target.startswith(EXTERNAL)]


@pytest.mark.parametrize("page", markdown_files(), ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_resolve(page: Path) -> None:
    missing = [link for link in relative_links(page) if not (page.parent / link).exists()]
    assert not missing, f"{page.relative_to(ROOT)} links to missing files: {missing}"


def test_the_link_pattern_finds_links() -> None:
    """The check above would pass vacuously if the pattern found nothing."""
    readme_links = relative_links(ROOT / "README.md")
    assert "docs/replication.md" in readme_links
