"""docs/ARCHITECTURE.md matches the tree: every stage package of edgeconv/ has its section, and
every module is named in its own stage's section (the op families of lowering/ops/ are named by
the `ops/` row; its shared modules base.py and mac.py by name)."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "edgeconv"
DOC = (ROOT / "docs" / "ARCHITECTURE.md").read_text()


def sections() -> dict[str, str]:
    """The text of each `### <stage>/: ...` section, and of `### The top` as "" (edgeconv/ itself)."""
    found: dict[str, str] = {}
    parts = re.split(r"^### ", DOC, flags=re.M)
    for part in parts[1:]:
        title, _, body = part.partition("\n")
        body = body.split("\n## ")[0]  # up to the next level-2 heading
        m = re.match(r"([a-z_]+)/:", title)
        if m:
            found[m.group(1)] = body
        elif title.startswith("The top"):
            found[""] = body
    return found


def modules() -> dict[str, list[str]]:
    """Stage package ("" for edgeconv/ itself) -> its module files."""
    out: dict[str, list[str]] = {"": []}
    for path in sorted(PACKAGE.glob("*.py")):
        out[""].append(path.name)
    for stage in sorted(p for p in PACKAGE.iterdir() if (p / "__init__.py").exists()):
        out[stage.name] = [p.name for p in sorted(stage.glob("*.py")) if p.name != "__init__.py"]
    return out


def test_every_stage_has_its_section_and_its_line_in_the_tree():
    docs = sections()
    for stage in modules():
        if stage:
            assert stage in docs, f"docs/ARCHITECTURE.md has no '### {stage}/: ...' section"
            assert re.search(rf"^  {stage}/\s", DOC, re.M), f"the tree in docs/ARCHITECTURE.md does not draw {stage}/"
    assert "" in docs


def test_every_module_is_named_in_its_stage_section():
    docs = sections()
    missing = [
        f"{stage or 'edgeconv'}/{name}"
        for stage, names in modules().items()
        for name in names
        if f"`{name}`" not in docs[stage]
    ]
    assert not missing, f"modules docs/ARCHITECTURE.md does not describe in their stage's section: {missing}"


def test_ops_shared_modules_are_named():
    ops = PACKAGE / "lowering" / "ops"
    assert (ops / "base.py").exists() and "`lowering/ops/base.py`" in DOC
    assert "`ops/mac.py`" in DOC
