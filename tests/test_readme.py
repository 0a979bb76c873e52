"""The README's code is the scripts' code: every Python snippet in it stands, line
for line and in order, in one of the numbered scripts, so a reader who copies it
copies what runs."""
import re

import pytest

from helpers import ROOT

SNIPPETS = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
SCRIPTS = {p.name: p.read_text() for p in sorted(ROOT.glob("[0-9]_*.py"))}


def test_the_readme_has_snippets():
    assert len(SNIPPETS) >= 2  # the command line and the loop, at least


@pytest.mark.parametrize("snippet", SNIPPETS, ids=[s.splitlines()[0][:40] for s in SNIPPETS])
def test_each_snippet_is_a_scripts_own_lines(snippet):
    lines = snippet.rstrip("\n").splitlines()
    block = "\n".join(lines) + "\n"
    holders = [name for name, text in SCRIPTS.items() if block in text]
    assert holders, f"not in any numbered script, as written:\n{snippet}"
