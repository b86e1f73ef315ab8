"""The source stays formatted: clang-format (.clang-format) for the hand-written C, ruff
(pyproject.toml's [tool.ruff]) for the Python. A failure names the files and the command that
fixes them.

The tools come from the `test` extra: ruff runs as `python -m ruff`, clang-format is the pip
wheel's script next to this interpreter (its major version is pinned in pyproject.toml, because
each major version formats differently; a clang-format of another major version on PATH is
refused rather than trusted). Missing tools skip, and fail under EDGECONV_REQUIRE_TOOLCHAINS=1.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
# The hand-written C. boards/support/*.c.in are templates with @NAME@ placeholders that
# clang-format would split (.clang-format-ignore lists them).
C_GLOBS = ("c_runtime/*.c", "c_runtime/*.h", "boards/support/*.c")
PY_DIRS = ("edgeconv", "quantize", "tests", "benchmarks")


def _missing(what: str) -> None:
    if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
        pytest.fail(f"{what} is missing and EDGECONV_REQUIRE_TOOLCHAINS is set (pip install -e '.[test]')")
    pytest.skip(f"{what} is missing (pip install -e '.[test]')")


def _pinned_clang_format_major() -> int:
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for req in extras["test"]:
        m = re.fullmatch(r"clang-format==(\d+)\.\*", req.replace(" ", ""))
        if m:
            return int(m.group(1))
    raise AssertionError("pyproject.toml's test extra pins no clang-format major version (clang-format==N.*)")


def _clang_format() -> str:
    """The clang-format of the pinned major version: the pip wheel's script installed next to
    this interpreter first, else one on PATH."""
    major = _pinned_clang_format_major()
    beside = Path(sys.executable).parent / ("clang-format.exe" if os.name == "nt" else "clang-format")
    exe = str(beside) if beside.is_file() else shutil.which("clang-format")
    if exe is None:
        _missing(f"clang-format {major}")
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, check=True).stdout
    m = re.search(r"clang-format version (\d+)\.", out)
    if not m or int(m.group(1)) != major:
        pytest.fail(
            f"{exe} is not clang-format {major} ({out.strip()!r}); other major versions format differently: "
            f"pip install 'clang-format=={major}.*'"
        )
    return exe


def _c_files() -> list[str]:
    files = sorted(str(p.relative_to(ROOT)) for g in C_GLOBS for p in ROOT.glob(g))
    assert files, "no C files found"
    return files


def test_c_is_clang_formatted():
    exe = _clang_format()
    files = _c_files()
    r = subprocess.run([exe, "--dry-run", "--Werror", *files], cwd=ROOT, capture_output=True, text=True)
    bad = sorted({line.split(":", 1)[0] for line in r.stderr.splitlines() if "[-Wclang-format-violations]" in line})
    assert r.returncode == 0, (
        f"clang-format would change {len(bad)} file(s): {' '.join(bad) or r.stderr.strip()}\n"
        f"fix with: clang-format -i {' '.join(bad) or ' '.join(C_GLOBS)}"
    )


def test_c_templates_are_left_alone():
    """clang-format splits the templates' @NAME@ placeholders: .clang-format-ignore must keep
    a bare `clang-format -i boards/support/*` away from them."""
    exe = _clang_format()
    templates = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("boards/support/*.c.in"))
    assert templates
    r = subprocess.run([exe, "--dry-run", "--Werror", *templates], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0 and not r.stderr.strip(), r.stderr


def _ruff(*args: str) -> subprocess.CompletedProcess:
    if importlib.util.find_spec("ruff") is None:
        _missing("ruff")
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args, "--no-cache", *PY_DIRS], cwd=ROOT, capture_output=True, text=True
    )


def test_python_passes_ruff_check():
    r = _ruff("check", "--output-format", "concise")
    bad = sorted({line.split(":", 1)[0] for line in r.stdout.splitlines() if re.match(r"\S+\.py:\d+:\d+: ", line)})
    assert r.returncode == 0, (
        f"ruff check finds problems in {len(bad)} file(s):\n{r.stdout[-4000:]}{r.stderr}\n"
        f"fix with: python -m ruff check --fix {' '.join(PY_DIRS)} (then by hand what remains)"
    )


def test_python_is_ruff_formatted():
    r = _ruff("format", "--check")
    bad = sorted(line.split(":", 1)[1].strip() for line in r.stdout.splitlines() if line.startswith("Would reformat:"))
    assert r.returncode == 0, (
        f"ruff format would change {len(bad)} file(s): {' '.join(bad)}{r.stderr}\n"
        f"fix with: python -m ruff format {' '.join(PY_DIRS)}"
    )
