"""The documentation holds together: README.md and docs/*.md link only to files and headings that exist, the rules
page is what its generator prints, and README's two commands are the ones users and CI run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mtls_conformance import docs_rules

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^(```|~~~).*?^\1", re.S | re.M)
CODE = re.compile(r"`[^`\n]*`")

RUN_ON_KIND = ("python3 -m venv .venv && . .venv/bin/activate && pip install -e . && "
               "pytest suites --istio-version 1.31 --profile smoke")
SELF_TESTS = 'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test]" && pytest tests'


def _prose(text: str) -> str:
    """The text without fenced code blocks: links inside code are examples, not links."""
    return FENCE.sub("", text)


def anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (except - and _), spaces to hyphens."""
    text = heading.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    found: set[str] = set()
    for line in _prose(path.read_text(encoding="utf-8")).splitlines():
        match = re.match(r"#{1,6}\s+(.*)", line)
        if not match:
            continue
        base = anchor(match.group(1))
        n = seen.get(base, 0)
        seen[base] = n + 1
        found.add(base if n == 0 else f"{base}-{n}")
    return found


def relative_links(path: Path) -> list[str]:
    text = CODE.sub("", _prose(path.read_text(encoding="utf-8")))
    return [t for t in LINK.findall(text) if not re.match(r"[a-z][a-z0-9+.-]*:", t)]


def test_anchor_follows_github() -> None:
    assert anchor("The timing table (`mtls_conformance/timing.py`, override with `--timing FILE`)") == \
        "the-timing-table-mtls_conformancetimingpy-override-with---timing-file"
    assert anchor("No cluster: exit 2 with one line") == "no-cluster-exit-2-with-one-line"


def test_every_page_is_checked() -> None:
    names = {p.name for p in PAGES}
    assert {"README.md", "contracts.md", "rules.md", "architecture.md", "troubleshooting.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(page: Path) -> None:
    broken = []
    for target in relative_links(page):
        file_part, _, fragment = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            broken.append(f"{target}: no such file")
        elif fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{fragment}")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_link_check_sees_broken_links(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text("# Title\n\n[ok](#title) [bad](missing.md) [code](`x`)\n```\n[in code](nowhere.md)\n```\n")
    assert relative_links(page) == ["#title", "missing.md"]
    assert anchors(page) == {"title"}


def test_rules_page_is_what_the_generator_prints() -> None:
    committed = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert committed == docs_rules.render(), f"docs/rules.md is out of date: run `{docs_rules.COMMAND}`"


def test_rules_page_links_every_source() -> None:
    page = docs_rules.render()
    for rule in docs_rules._RULES:
        assert f"| `{rule.id}` |" in page and f"]({rule.source})" in page


def test_readme_commands_are_the_ones_users_and_ci_run() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines = readme.splitlines()
    assert RUN_ON_KIND in lines and SELF_TESTS in lines
    assert lines.index(RUN_ON_KIND) < lines.index(SELF_TESTS) < 60, "the two commands belong on the first screen"
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    # .ci/run spells out the same steps: a venv, the [test] extra, then exactly `pytest tests`
    assert "python3 -m venv .venv" in ci and 'python -m pip install -q -e ".[test]"' in ci
    assert ci[-1] == "pytest tests"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_section_markers_are_balanced(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    opened = re.findall(r"<!-- section:([\w-]+) -->", text)
    closed = re.findall(r"<!-- /section:([\w-]+) -->", text)
    assert opened == closed
