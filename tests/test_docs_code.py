"""The documentation is tested: every ```python block of README.md and docs/ runs as a reader pastes it.

How a block runs: alone, in a fresh namespace (a new dict of globals), in an empty working directory — what a reader
gets who pastes that one block into a new Python session. No block relies on an earlier one, so every block imports
what it uses and makes its own small data; nothing is stubbed or patched (the API tour of issue 25 failed with
NameErrors because the old README test ran the blocks in one namespace with stand-ins for the reader's objects).
Blocks are kept small (tiny shapes, a few steps) so that the whole page set runs in about a minute.

A block that cannot run on a test machine (a download, hours of compute, files the reader has and the test
machine does not) is marked on the line right before its fence with `<!-- skip: the reason -->`; the test reports
it as skipped with that reason, and a marker without a reason fails.

The other checks keep the docs honest about the project: README.md stays ≤ 200 lines, its test command is what
`.ci/run` runs, and every public class and function of the package appears in the generated API reference.
"""

from __future__ import annotations

import os
import pathlib
import re
import sys
from dataclasses import dataclass

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SKIP_MARKER = re.compile(r"^<!--\s*skip:(?P<reason>.*?)-->\s*$")
FENCE = re.compile(r"^```python[ \t]*\n(?P<source>.*?)^```[ \t]*$", flags=re.S | re.M)


@dataclass(frozen=True)
class Block:
    page: pathlib.Path
    line: int  # line number of the first line of code
    source: str
    skip: str | None  # the reason given by a skip marker, or None

    @property
    def id(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def python_blocks(page: pathlib.Path, text: str | None = None) -> list[Block]:
    """Every ```python block of a page, with the skip reason of a `<!-- skip: ... -->` line right before it."""
    text = page.read_text(encoding="utf-8") if text is None else text
    blocks = []
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = SKIP_MARKER.match(before.strip())
        blocks.append(Block(page, text.count("\n", 0, match.start()) + 2, match.group("source"),
                            marker.group("reason").strip() if marker else None))
    return blocks


BLOCKS = [block for page in PAGES for block in python_blocks(page)]


@pytest.mark.parametrize("block", BLOCKS, ids=[block.id for block in BLOCKS])
def test_python_block_runs_as_pasted(block, tmp_path, monkeypatch):
    if block.skip is not None:
        assert block.skip, f"{block.id}: a skip marker must give its reason: <!-- skip: why -->"
        pytest.skip(block.skip)
    monkeypatch.chdir(tmp_path)  # blocks may write files (plots, run directories)
    namespace = {"__name__": "__main__"}
    exec(compile(block.source, block.id, "exec"), namespace)  # noqa: S102 - the docs' own code


def test_blocks_are_found_with_line_numbers_and_skip_reasons(tmp_path):
    text = ("intro\n```python\na = 1\n```\n<!-- skip: needs the weights -->\n```python\nb = 2\n```\n"
            "<!-- skip: -->\n```python\nc = 3\n```\n```bash\nls\n```\n")
    page = tmp_path / "page.md"
    blocks = python_blocks(page, text)
    assert [(b.line, b.source, b.skip) for b in blocks] == [
        (3, "a = 1\n", None), (7, "b = 2\n", "needs the weights"), (11, "c = 3\n", "")]


def test_every_page_has_its_blocks_counted():
    # The docs exist and hold code: a broken fence pattern would silently test nothing.
    assert len(BLOCKS) >= 15
    assert sum(block.skip is None for block in BLOCKS) >= 12


def test_readme_is_short():
    lines = (ROOT / "README.md").read_text(encoding="utf-8").count("\n")
    assert lines <= 200, f"README.md has {lines} lines; move the details into docs/"


def test_readme_links_point_to_files_that_exist():
    # mkdocs checks the links of docs/; the README lives outside it, so its relative links are checked here.
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text) + re.findall(r'src="([^"]+)"', text)
    local = [t for t in targets if "://" not in t]
    assert local, "the README links into docs/"
    missing = [t for t in local if not (ROOT / t).exists()]
    assert not missing, f"README.md links to missing files: {missing}"


def _readme_test_command() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("Run the tests", 1)[1]
    return re.search(r"```bash\n(?P<cmd>.*?)\n```", section, flags=re.S).group("cmd").strip()


def test_ci_runs_the_readme_test_command():
    # CI = "install as the README says, then run the README's test command": after its `# README` comment,
    # .ci/run runs exactly the README command's `&&` steps, in order, and nothing else.
    steps = [step.strip() for step in _readme_test_command().split("&&")]
    lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("# README"))
    ci = [line.strip() for line in lines[start + 1:] if line.strip() and not line.lstrip().startswith("#")]
    assert ci == steps, f".ci/run runs {ci}, the README's test command is {steps}"
    assert "mkdocs build --strict" in steps and any(".[" in s and "docs" in s for s in steps)


def _lookup(package, path: str):
    try:
        return package.modules_collection.get_member(path)
    except KeyError:
        return None


def test_every_public_name_is_in_the_api_reference():
    pytest.importorskip("griffe", reason="needs the [docs] extra")
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import docs_reference
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    package = docs_reference.load_package()
    pages = docs_reference.reference_pages(package)
    rendered = set()
    for page in pages:
        for path in page.rendered():
            member = _lookup(package, path)
            rendered.add(docs_reference.canonical(member) if member is not None else path)
    public = docs_reference.public_objects(package)
    missing = sorted(name for name, canonical in public.items() if canonical not in rendered and name not in rendered)
    assert not missing, f"public names missing from the API reference: {missing}"
    # One page per package, named after it: the reference mirrors the package tree.
    packages = {".".join(p.relative_to(ROOT).parts[:-1]) for p in (ROOT / "tf_lipschitz").rglob("__init__.py")
                if not any(part.startswith("_") for part in p.relative_to(ROOT).parts[:-1])}
    assert packages <= {page.name for page in pages}


if __name__ == "__main__":  # pragma: no cover
    pytest.main([__file__, "-q", "-n", "0"])
