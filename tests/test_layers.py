"""The package's layers point one way (issue 13).

Reads the source of every module in edgeconv/ and quantize/ (nothing is imported; about a second
of CPU) and checks, over ALL their imports, function-local and TYPE_CHECKING ones
included:

1. no import cycle between modules;
2. every import goes to the importing module's own layer or one below it (LAYERS);
3. no private name (`_x`) of one module is imported or reached by another.

A package's implicit import of its parents (importing `edgeconv.frontend.ir` runs
`edgeconv/__init__.py`) is not an edge; a package that imports its submodules by name at run time
(`edgeconv/lowering/ops/__init__.py`: every op family registers itself) depends on all of them.
"""

from __future__ import annotations

import ast
import functools
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("edgeconv", "quantize")
# Scanned for private names only (scripts, not modules of the package).
SCRIPTS = ("benchmarks",)

# Lowest first. A module may import its own layer and those before it, never one after it.
# "pkg.*" is the package pkg and everything in it; any other name is that one module.
LAYERS: list[tuple[str, tuple[str, ...], str]] = [
    (
        "quantize",
        ("quantize.*",),
        "TFLite's quantization arithmetic and the Keras -> .tflite quantizer; knows no edgeconv",
    ),
    (
        "frontend",
        ("edgeconv.frontend.*",),
        "the IR, the .tflite reader, its checks and shapes, board profiles, names, labels",
    ),
    (
        "services",
        ("edgeconv.outputs", "edgeconv.progress", "edgeconv.quiet", "edgeconv.version"),
        "what every command uses: publishing files safely, progress bars, silencing chatter, the version",
    ),
    # Same shape as every row (name, modules, what it holds), e.g. targets below; kept apart: one row per layer
    (
        "lowering",
        ("edgeconv.lowering.*",),
        "Graph -> CompiledModel: passes, one lowering per op family, the arena planner",
    ),
    ("emit", ("edgeconv.emit.*",), "CompiledModel -> C files: the emitter, bundles of models, build-system packages"),
    ("results", ("edgeconv.results",), "the typed results of compile, inspect, train, demo, evaluate, report, advise"),
    # Same shape as every row (name, modules, what it holds), e.g. lowering above; kept apart: one row per layer
    (
        "targets",
        ("edgeconv.targets.*",),
        "compiling the C: host builds, firmware per board, AVR, emulators, stack, cycles",
    ),
    (
        "checking",
        ("edgeconv.checking.*",),
        "the oracles (TFLite Micro, TFLite's reference, op by op), validation, the quantization error per layer",
    ),
    ("training", ("edgeconv.training.*",), "data sets, the model zoo, train, quantize (the command) and the demo"),
    ("reports", ("edgeconv.reports.*",), "inspect's rows, report, evaluate, advise, sweep, pictures"),
    ("top", ("edgeconv.cli", "edgeconv"), "the command line and the Python API (edgeconv/__init__.py)"),
]


@dataclass
class Module:
    name: str
    path: Path
    is_package: bool
    imports: dict[str, int] = field(default_factory=dict)  # imported module -> first line
    private: list[str] = field(default_factory=list)  # "line N: what" for each private name reached


def module_name(path: Path, root: Path) -> tuple[str, bool]:
    parts = path.relative_to(root).with_suffix("").parts
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def find_modules(tops: tuple[str, ...], root: Path = ROOT) -> dict[str, Module]:
    found = {}
    for top in tops:
        for path in sorted((root / top).rglob("*.py")):
            name, is_package = module_name(path, root)
            found[name] = Module(name, path, is_package)
    return found


def layer_of(name: str) -> int:
    """The module's index in LAYERS."""
    for i, (_, patterns, _) in enumerate(LAYERS):
        for p in patterns:
            if name == p or (p.endswith(".*") and (name == p[:-2] or name.startswith(p[:-1]))):
                return i
    raise AssertionError(f"{name}: in no layer of tests/test_layers.py's LAYERS: give it one")


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def analyse(mod: Module, known: dict[str, Module]) -> None:
    """Fill mod.imports and mod.private from its source."""
    tree = ast.parse(mod.path.read_text(), str(mod.path))
    package = mod.name if mod.is_package else mod.name.rpartition(".")[0]
    bound: dict[str, str] = {}  # a local name -> the internal module it names

    def add(target: str, line: int) -> None:
        if target != mod.name:
            mod.imports.setdefault(target, line)

    imports, attributes, calls = [], [], []  # one walk of the tree (the costly part), its nodes sorted
    for node in ast.walk(tree):
        kind = type(node)
        if kind is ast.Import or kind is ast.ImportFrom:
            imports.append(node)
        elif kind is ast.Attribute:
            attributes.append(node)
        elif kind is ast.Call:
            calls.append(node)

    for node in imports:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in PACKAGES:
                    continue
                add(alias.name, node.lineno)
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound[alias.name.split(".")[0]] = alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source.split(".")[0] not in PACKAGES:
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                if sub in known:  # `from package import module`
                    add(sub, node.lineno)
                    bound[alias.asname or alias.name] = sub
                else:
                    add(source, node.lineno)
                    if is_private(alias.name) and source != mod.name:
                        mod.private.append(f"line {node.lineno}: from {source} import {alias.name}")
    if mod.is_package and any(isinstance(c.func, ast.Attribute) and c.func.attr == "import_module" for c in calls):
        for other in known:  # a package importing its submodules by computed name
            if other.rpartition(".")[0] == mod.name:
                add(other, calls[0].lineno)

    def dotted(node: ast.AST) -> list[str] | None:
        if isinstance(node, ast.Name):
            return [node.id]
        if isinstance(node, ast.Attribute):
            head = dotted(node.value)
            return None if head is None else head + [node.attr]
        return None

    def reach(node: ast.AST, chain: list[str]) -> None:
        """chain[0] is a local name; report a private attribute of an internal module other than this one."""
        if chain[0] not in bound:
            return
        target = bound[chain[0]]
        for attr in chain[1:]:
            if f"{target}.{attr}" in known:
                target = f"{target}.{attr}"
                continue
            if is_private(attr) and target != mod.name:
                mod.private.append(f"line {node.lineno}: {target}.{attr}")
            return

    for node in attributes if bound else ():
        chain = dotted(node)
        if chain:
            reach(node, chain)
    for node in calls if bound else ():
        if (
            isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            chain = dotted(node.args[0])
            if chain:
                reach(node, chain + [node.args[1].value])
    # `a._b.c` is reached twice (as `a._b` and `a._b.c`); ast.walk is breadth first: sort by line
    mod.private = sorted(dict.fromkeys(mod.private), key=lambda what: int(what.split()[1].rstrip(":")))


@functools.cache
def graph(root: Path = ROOT) -> dict[str, Module]:
    modules = find_modules(PACKAGES, root)
    for mod in modules.values():
        analyse(mod, modules)
    return modules


def find_cycle(modules: dict[str, Module]) -> list[str] | None:
    """One import cycle (a list of modules, first == last), or None."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str] | None:
        state[name] = 1
        path.append(name)
        for dep in sorted(modules[name].imports):
            if dep not in modules:
                continue
            if state.get(dep) == 1:
                return path[path.index(dep) :] + [dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        path.pop()
        state[name] = 2
        return None

    for name in sorted(modules):
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None


def test_every_import_resolves():
    modules = graph()
    missing = [
        f"{m.name} imports {dep} (line {line})"
        for m in modules.values()
        for dep, line in m.imports.items()
        if dep not in modules
    ]
    assert not missing, "imports of no module in the tree:\n" + "\n".join(missing)


def test_no_import_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_layers_point_one_way():
    modules = graph()
    wrong = []
    for mod in modules.values():
        own = layer_of(mod.name)
        for dep, line in sorted(mod.imports.items()):
            if dep in modules and layer_of(dep) > own:
                wrong.append(
                    f"{mod.path.relative_to(ROOT)}:{line}: {mod.name} ({LAYERS[own][0]}) imports {dep} "
                    f"({LAYERS[layer_of(dep)][0]}, a layer above)"
                )
    order = " < ".join(name for name, _, _ in LAYERS)
    assert not wrong, f"imports pointing up (layers, lowest first: {order}):\n" + "\n".join(wrong)


def test_no_private_name_across_modules():
    modules = graph()
    scripts = find_modules(SCRIPTS)
    for mod in scripts.values():
        analyse(mod, {**modules, **scripts})
    wrong = [
        f"{mod.path.relative_to(ROOT)}: {what}"
        for mod in [*modules.values(), *scripts.values()]
        for what in mod.private
    ]
    assert not wrong, "private names used outside their module:\n" + "\n".join(wrong)


def test_the_checks_see_what_they_check(tmp_path):
    """The analysis itself: a cycle, an upward import, a function-local import and private names
    (imported, reached as an attribute, through getattr) are all found."""
    (tmp_path / "edgeconv" / "frontend").mkdir(parents=True)
    (tmp_path / "edgeconv" / "targets").mkdir()
    (tmp_path / "quantize").mkdir()
    files = {
        "edgeconv/__init__.py": "",
        "edgeconv/frontend/__init__.py": "",
        "edgeconv/frontend/ir.py": "def f():\n    from edgeconv.targets import firmware\n",
        "edgeconv/targets/__init__.py": "",
        "edgeconv/targets/firmware.py": "from edgeconv.targets.avr import _x\n",
        "edgeconv/targets/avr.py": (
            "import edgeconv.targets.firmware as fw\nfrom edgeconv.frontend import ir\n"
            "fw._build_in()\ngetattr(ir, '_hidden')\n"
        ),
        "quantize/__init__.py": "",
    }
    for rel, text in files.items():
        (tmp_path / rel).write_text(text)
    modules = graph(tmp_path)
    assert "edgeconv.targets.firmware" in modules["edgeconv.frontend.ir"].imports  # function-local, pointing up
    assert layer_of("edgeconv.frontend.ir") < layer_of("edgeconv.targets.firmware")
    assert find_cycle(modules) == [
        "edgeconv.frontend.ir",
        "edgeconv.targets.firmware",
        "edgeconv.targets.avr",
        "edgeconv.frontend.ir",
    ]
    assert modules["edgeconv.targets.firmware"].private == ["line 1: from edgeconv.targets.avr import _x"]
    assert modules["edgeconv.targets.avr"].private == [
        "line 3: edgeconv.targets.firmware._build_in",
        "line 4: edgeconv.frontend.ir._hidden",
    ]
