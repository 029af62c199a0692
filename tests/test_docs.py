"""The documentation a person reads holds together: links resolve, the front page stays short.

Every relative link in README.md and docs/*.md must name a file or directory of the
checkout (web links and in-page anchors are not followed), every docs/*.md is listed on
the front page, and README.md stays a front page (under 15 KB) with the reference in docs/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
README = REPO / "README.md"
DOCS = sorted((REPO / "docs").glob("*.md"))
MAX_README_BYTES = 15 * 1024
# [text](target) and ![alt](target); the target ends at whitespace or ")".
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.DOTALL | re.MULTILINE)
EXTERNAL = re.compile(r"^[a-z][a-z0-9+.-]*:", re.IGNORECASE)  # http:, https:, mailto: ...


def relative_links(text: str) -> list[str]:
    """The relative link targets of a Markdown text, outside fenced code blocks."""
    prose = FENCE.sub("", text)
    targets = []
    for target in LINK.findall(prose):
        if EXTERNAL.match(target) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_link_parser_finds_what_a_reader_clicks() -> None:
    text = ("See [a](docs/a.md), [b](b.md#part), ![img](../x.png), [web](https://example.vn/),"
            " [anchor](#top).\n```\n[not](in-code.md)\n```\n")
    assert relative_links(text) == ["docs/a.md", "b.md", "../x.png"]


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: str(p.relative_to(REPO)))
def test_every_relative_link_points_to_an_existing_file(page: Path) -> None:
    broken = [t for t in relative_links(page.read_text(encoding="utf-8"))
              if not (page.parent / t).exists()]
    assert not broken, f"{page.relative_to(REPO)}: broken links {broken}"


def test_readme_is_a_front_page() -> None:
    size = len(README.read_bytes())
    assert size < MAX_README_BYTES, f"README.md is {size} bytes; move reference text to docs/"


def test_front_page_lists_every_document() -> None:
    listed = set(relative_links(README.read_text(encoding="utf-8")))
    missing = [p.name for p in DOCS if f"docs/{p.name}" not in listed]
    assert not missing, f"README.md's Documentation list lacks {missing}"
