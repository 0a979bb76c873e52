"""The README and the pages in docs/: their code is the scripts' code, and every
relative link leads somewhere.

Every Python snippet stands, line for line and in order, in one of the numbered
scripts, so a reader who copies it copies what runs. Every relative link names a
file of the repository, and every #anchor a heading of the page it points to (as
GitHub makes anchors from headings)."""
import re
from pathlib import Path

import pytest

from helpers import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SNIPPETS = [(page.relative_to(ROOT).as_posix(), snippet) for page in PAGES
            for snippet in re.findall(r"```python\n(.*?)```", page.read_text(), re.S)]
SCRIPTS = {p.name: p.read_text() for p in sorted(ROOT.glob("[0-9]_*.py"))}


def test_the_pages_have_snippets():
    assert len(SNIPPETS) >= 2  # the command line and the loop, at least


@pytest.mark.parametrize("page, snippet", SNIPPETS,
                         ids=[f"{page}:{s.splitlines()[0][:40]}" for page, s in SNIPPETS])
def test_each_snippet_is_a_scripts_own_lines(page, snippet):
    lines = snippet.rstrip("\n").splitlines()
    block = "\n".join(lines) + "\n"
    holders = [name for name, text in SCRIPTS.items() if block in text]
    assert holders, f"{page}: not in any numbered script, as written:\n{snippet}"


def anchor(heading):
    """GitHub's anchor for a heading: lower case, markup and punctuation dropped,
    each space a hyphen."""
    text = re.sub(r"[`*_]|\[|\]\([^)]*\)", "", heading.strip()).lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page):
    """The anchors of a page's headings (a repeated heading gets -1, -2, ...)."""
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    seen, found = {}, set()
    for heading in re.findall(r"^#{1,6} (.+)$", text, re.M):
        name = anchor(heading)
        found.add(name if name not in seen else f"{name}-{seen[name]}")
        seen[name] = seen.get(name, 0) + 1
    return found


def links(page):
    """(target, anchor) of each relative link in a page, code left out."""
    text = re.sub(r"```.*?```|`[^`\n]*`", "", page.read_text(), flags=re.S)
    for target in re.findall(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)", text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, name = target.partition("#")
        yield path, name


def test_anchors_are_githubs():
    assert anchor("What makes `--mode C` fast here") == "what-makes---mode-c-fast-here"
    assert anchor("Theano → PyTensor, for readers holding the slides") == \
        "theano--pytensor-for-readers-holding-the-slides"
    assert anchor("With dropout, why does training look worse than testing?") == \
        "with-dropout-why-does-training-look-worse-than-testing"


@pytest.mark.parametrize("page", PAGES, ids=[p.relative_to(ROOT).as_posix() for p in PAGES])
def test_every_relative_link_resolves(page):
    broken = []
    for path, name in links(page):
        target = (page.parent / path).resolve() if path else page
        if not target.exists() or ROOT.resolve() not in [target, *target.parents]:
            broken.append(f"{path}: no such file in the repository")
        elif name and (target.suffix != ".md" or name not in anchors(target)):
            broken.append(f"{path}#{name}: no such heading")
    assert not broken, f"{page.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_readme_is_a_learners_path():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 200
    assert "python3 -m venv .venv" in readme
    assert "pip install -r requirements-dev.txt && python -m pytest" in readme
    assert "pip install jupyterlab" in readme
    linked = {Path(path).name for path, _ in links(ROOT / "README.md")
              if path.startswith("docs/")}
    assert linked == {p.name for p in (ROOT / "docs").glob("*.md")}  # every page is reachable
