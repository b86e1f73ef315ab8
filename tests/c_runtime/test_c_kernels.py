"""The kernel tests in C (tests/c/, see its README.md): the stored cases are what edgeconv emits
now, they exercise every c_runtime/ unit and kernel entry point, and `make -C tests/c` (host,
then ASan/UBSan) and `make -C tests/c m4` (QEMU's Cortex-M4) pass them bit-exactly.

Nothing here imports TensorFlow: the C runs from a plain environment (make and a C compiler),
and the freshness check runs in a subprocess where importing tensorflow or tflite_micro fails.
Only the optional oracle check (the stored expected outputs against TFLite Micro) uses
tflite_micro, and it skips without it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import require_tools

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[2]
C_TESTS = ROOT / "tests" / "c"
CASES = C_TESTS / "cases"
RUNTIME = ROOT / "c_runtime"
PACKAGE = ROOT / "edgeconv"  # its source text is searched for `func=`; no module path is imported
REFRESH = "python tests/c/make_vectors.py --refresh-c"

# Entry points c_runtime/ declares that no lowering can choose, so no case can call them.
# (None today: ec_copy_indexed_s32 was one, since MIRROR_PAD, the indexed copy's one user, refuses int32,
# and it is gone.)
UNREACHABLE: dict[str, str] = {}


def index() -> dict[str, dict]:
    return json.loads((C_TESTS / "cases.json").read_text())


def stored_c(name: str) -> str:
    return (CASES / name / f"{name}.c").read_text()


def calls(c_text: str) -> set[str]:
    """The c_runtime entry points a generated model .c calls (as make_vectors.kernels_called)."""
    return set(re.findall(r"\b(ec_[a-z0-9_]+)\(&", c_text))


def all_calls() -> set[str]:
    return set().union(*(calls(stored_c(name)) for name in index()))


def declared_entry_points() -> set[str]:
    """Every kernel entry point the runtime's headers declare: `void ec_x(...)` prototypes and
    EC_*_ENTRY(ec_x) declarations (static inline helpers are not entry points)."""
    found = set()
    for header in RUNTIME.glob("ec_*.h"):
        text = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.S)
        found |= set(re.findall(r"^void\s+(ec_[a-z0-9_]+)\s*\(", text, flags=re.M))
        found |= set(re.findall(r"^EC_[A-Z0-9_]*ENTRY\((ec_[a-z0-9_]+)\)", text, flags=re.M))
    return found


def func_patterns() -> dict[str, str]:
    """Every `func="ec_..."` / `func=f"ec_..."` in the compiler's source (wherever its lowerings
    live), as a regular expression: an f-string's replacement fields match any name part."""
    patterns = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        for m in re.finditer(r"""\bfunc=(f?)(["'])(ec_[^"']*)\2""", path.read_text()):
            text = m.group(3)
            regex = re.sub(r"\\\{[^}]*\\\}", "[a-z0-9_]+", re.escape(text)) if m.group(1) else re.escape(text)
            patterns[f"{path.relative_to(ROOT)}: func={m.group(1)}{m.group(2)}{text}{m.group(2)}"] = regex
    return patterns


def plain_env() -> dict[str, str]:
    """What make needs, and nothing of Python's: no PYTHONPATH, no virtualenv."""
    return {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR") if k in os.environ} | {"LC_ALL": "C"}


# ---------------------------------------------------------------------------------------------
# The stored cases


def test_cases_are_listed_and_complete():
    cases = index()
    assert len(cases) >= 40
    folders = sorted(p.name for p in CASES.iterdir() if p.is_dir())
    assert folders == sorted(cases), "tests/c/cases/ and tests/c/cases.json list different cases"
    total = 0
    for name, meta in cases.items():
        files = {p.name for p in (CASES / name).iterdir()}
        assert files == {f"{name}.tflite", f"{name}.c", f"{name}.h", "vectors.c"}, (name, files)
        assert meta["oracle"] in ("tflite_micro", "tflite_ref"), (name, meta["oracle"])
        assert meta["weights"] in ("int8", "int16"), (name, meta["weights"])
        assert sorted(calls(stored_c(name))) == meta["kernels"], (
            f"{name}: cases.json's kernels are not those its C calls; run {REFRESH} (or remake the case)"
        )
        total += sum(p.stat().st_size for p in (CASES / name).iterdir())
    assert total < 1_000_000, f"tests/c/cases/ holds {total} bytes: keep the cases small"


def test_stored_c_is_what_edgeconv_emits_now():
    """Each case's <name>.c/.h equal what edgeconv.compile emits from its .tflite today (its
    runtime stamp written as the source tree's placeholder, as make_vectors stores it). A
    renamed params field, a changed lowering or emitter shows up here, and in the C build. The
    check runs where importing TensorFlow or tflite_micro fails: neither is needed."""
    script = (
        "import importlib.util, json, sys\n"
        "sys.modules['tensorflow'] = None\n"
        "sys.modules['tflite_micro'] = None\n"
        "spec = importlib.util.spec_from_file_location("
        f"'edgeconv_c_kernel_vectors', {str(C_TESTS / 'make_vectors.py')!r})\n"
        "mv = importlib.util.module_from_spec(spec)\n"
        "sys.modules[spec.name] = mv\n"
        "spec.loader.exec_module(mv)\n"
        "stale = []\n"
        "for name, meta in sorted(mv.read_index().items()):\n"
        "    files = mv.emit_case_c((mv.CASES_DIR / name / f'{name}.tflite').read_bytes(), name, meta['weights'])\n"
        "    for fname, text in files.items():\n"
        "        if (mv.CASES_DIR / name / fname).read_text() != text:\n"
        "            stale.append(f'{name}/{fname}')\n"
        "print(json.dumps({'stale': stale, "
        "'tf': 'tensorflow' in sys.modules and sys.modules['tensorflow'] is not None}))\n"
    )
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    proc = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=ROOT, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not result["tf"]
    assert not result["stale"], (
        f"the stored C of {len(result['stale'])} file(s) is not what edgeconv emits now "
        f"({', '.join(result['stale'][:6])}{' ...' if len(result['stale']) > 6 else ''}): run `{REFRESH}`, "
        "check that `make -C tests/c all-targets` passes, and commit tests/c/cases/"
    )


def test_every_unit_and_entry_point_is_exercised():
    called = all_calls()
    stored = "\n".join(stored_c(name) for name in index())
    units = sorted(p.stem for p in RUNTIME.glob("ec_*.c"))
    assert len(units) >= 30
    unused = [u for u in units if f'#include "{u}.h"' not in stored]
    assert not unused, f"c_runtime units no case uses: {unused}"

    declared = declared_entry_points()
    assert len(declared) >= 100
    missing = sorted(declared - called - set(UNREACHABLE))
    assert not missing, f"kernel entry points no case calls (add a case to tests/c/make_vectors.py): {missing}"
    for name, why in UNREACHABLE.items():
        assert name in declared, f"{name} is listed as unreachable but c_runtime/ no longer declares it"
        assert name not in called, f"{name} is called by a case: drop it from UNREACHABLE ({why})"
    assert called <= declared, f"cases call undeclared functions: {sorted(called - declared)}"

    patterns = func_patterns()
    assert len(patterns) >= 40, "the lowerings' func= were not found: where did edgeconv's source go?"
    unmatched = [site for site, regex in patterns.items() if not any(re.fullmatch(regex, c) for c in called)]
    assert not unmatched, f"entry points the lowerings name that no case calls: {unmatched}"


def test_m4_flags_are_the_board_profiles():
    board = tomllib.loads((ROOT / "boards" / "cortex-m4.toml").read_text())
    make = (C_TESTS / "Makefile").read_text()
    m = re.search(r"^M4_CFLAGS := (.*)$", make, flags=re.M)
    assert m, "tests/c/Makefile has no M4_CFLAGS"
    assert m.group(1).split() == board["cflags"], "tests/c/Makefile's M4_CFLAGS differ from boards/cortex-m4.toml"
    machine = re.search(r"^\s*machine = \"(.*)\"", (ROOT / "boards" / "cortex-m4.toml").read_text(), flags=re.M)
    assert machine and machine.group(1) == "mps2-an386"
    recipes = [line for line in make.splitlines() if line.startswith("\t")]
    assert recipes and not any("python" in line.lower() for line in recipes), (
        "the C tests must run with make and a compiler alone"
    )


def _values(body: str) -> list[int]:
    out = []
    for v in body.replace("\n", "").split(","):
        v = v.strip()
        if not v:
            continue
        if v.startswith("(-INT64_C("):
            out.append(-(2**63))
        elif v.startswith("(-2147483647"):
            out.append(-(2**31))
        elif v.startswith("INT64_C("):
            out.append(int(v[8:-1]))
        else:
            out.append(int(v.rstrip("u"), 0))
    return out


def read_vectors(name: str) -> tuple[dict[int, list[int]], dict[int, list[int]], int]:
    text = (CASES / name / "vectors.c").read_text()
    arrays: dict[str, dict[int, list[int]]] = {"input": {}, "expected": {}}
    for m in re.finditer(r"static const \w+ (input|expected)(\d+)\[\d+\] = \{(.*?)\};", text, flags=re.S):
        arrays[m.group(1)][int(m.group(2))] = _values(m.group(3))
    samples = int(re.search(r"\* (\d+) input samples", text).group(1))
    return arrays["input"], arrays["expected"], samples


def test_expected_outputs_are_tflite_micros():
    """The stored expected outputs are what TFLite Micro computes for the stored inputs (the
    cases whose oracle is TFLite Micro)."""
    try:
        from tflite_micro.python.tflite_micro import runtime
    except ImportError:
        pytest.skip("tflite_micro is not installed")
    checked = 0
    for name, meta in index().items():
        if meta["oracle"] != "tflite_micro":
            continue
        interp = runtime.Interpreter.from_bytes((CASES / name / f"{name}.tflite").read_bytes(), arena_size=1 << 20)
        ins, expected, samples = read_vectors(name)
        for s in range(samples):
            for i, flat in ins.items():
                d = interp.get_input_details(i)
                dtype, shape = np.dtype(d["dtype"]), tuple(d["shape"])
                size = int(np.prod(shape))
                v = np.array(flat[s * size : (s + 1) * size], dtype=np.int64)
                x = v.astype(np.uint32).view(np.float32) if dtype == np.float32 else v.astype(dtype)
                interp.set_input(x.reshape(shape), i)
            interp.invoke()
            for o, flat in expected.items():
                got = np.asarray(interp.get_output(o)).reshape(-1)
                want = np.array(flat[s * got.size : (s + 1) * got.size], dtype=np.int64)
                got = got.view(np.uint32).astype(np.int64) if got.dtype == np.float32 else got.astype(np.int64)
                assert np.array_equal(got, want), f"{name}: sample {s}, output {o} is not TFLite Micro's"
                checked += got.size
    assert checked > 5000


# ---------------------------------------------------------------------------------------------
# The C itself: make and a compiler, from an environment with nothing of Python's


def run_make(target: str, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", "-C", str(C_TESTS), f"O={out}", "-j2", target],
        capture_output=True,
        text=True,
        env=plain_env(),
        timeout=1800,
    )


def failures(proc: subprocess.CompletedProcess) -> str:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if not line.startswith("PASS ")]
    return "\n".join(lines[-40:])


def test_host_build_and_run(tmp_path):
    require_tools("make", "cc")
    proc = run_make("host", tmp_path)
    n = len(index())
    assert proc.returncode == 0, failures(proc)
    assert f"host (plain, cc): {n} of {n} cases bit-exact" in proc.stdout, failures(proc)
    sanitized = re.search(r"host \(sanitized, cc\): (\d+) of (\d+) cases bit-exact", proc.stdout)
    if sanitized is None:
        assert "host (sanitized): skipped" in proc.stdout, failures(proc)
    else:
        assert sanitized.groups() == (str(n), str(n)), failures(proc)
    assert proc.stdout.count("PASS ") == n * (2 if sanitized else 1)
    assert not any(CASES.rglob("*.o")), "the build wrote into the source tree"


def test_cortex_m4_build_and_run(tmp_path):
    require_tools("make", "arm-none-eabi-gcc", "qemu-system-arm")
    proc = run_make("m4", tmp_path)
    n = len(index())
    assert proc.returncode == 0, failures(proc)
    assert f"cortex-m4: {n} of {n} cases bit-exact" in proc.stdout, failures(proc)
    assert proc.stdout.count("PASS ") == n, failures(proc)
