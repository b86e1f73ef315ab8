"""The firmware's stack need, from the compiler's own figures over the real call graph.

Every C file of a firmware is compiled with `-fstack-usage` (one `.su` per unit: each
function's frame in bytes and whether it is static, bounded-dynamic or dynamic) and
`-fcallgraph-info=su` (one `.ci` per unit, VCG text: the functions defined there, each with
the same frame figure as the .su, and every call edge, out-of-line static helpers and
compiler clones included). The analysis reads the .ci files: their node titles are the names
the edges use (`a.c:helper`, `f.constprop.0`), which the .su names are not. The need is the
deepest path over that graph from the reset handler (or `main` where the entry is assembly),
plus an interrupt on top of it: the hardware exception frame and the deepest handler path.

What the analysis cannot bound is not guessed silently: a dynamic frame (VLA, alloca), an
indirect call, a call to a function outside the build (libgcc) or recursion makes the figure
uncertified; each such reason is listed, and UNCERTIFIED_MARGIN_BYTES is added to the need.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# A hardware exception frame with the FPU context (26 words), and some slack.
EXCEPTION_FRAME_BYTES = 128
# Added to the need when the graph holds something that cannot be bounded (see module doc).
UNCERTIFIED_MARGIN_BYTES = 256
INDIRECT = "__indirect_call"

_NODE = re.compile(r'node:\s*\{\s*title:\s*"([^"]*)"\s*label:\s*"([^"]*)"(.*)\}')
_SIZE = re.compile(r"\\n(\d+) bytes \(([^)]*)\)")
_EDGE = re.compile(r'edge:\s*\{\s*sourcename:\s*"([^"]*)"\s*targetname:\s*"([^"]*)"')


@dataclass(frozen=True)
class Frame:
    unit: str  # the compilation unit (file stem) that defines the function
    name: str
    bytes: int
    kind: str  # static, dynamic,bounded or dynamic (as -fstack-usage says)


@dataclass
class StackAnalysis:
    worst_path_bytes: int  # the sum of the frames along worst_path
    worst_path: list[str]  # function names from the entry down
    interrupt_bytes: int  # exception frame plus the deepest handler path
    reasons: list[str] = field(default_factory=list)  # dynamic frames, indirect calls, recursion
    outside: set[str] = field(default_factory=set)  # called functions defined outside the build
    frames: dict[tuple[str, str], Frame] = field(default_factory=dict)

    @property
    def uncertain(self) -> list[str]:
        """Why the figure is not certified (empty when it is)."""
        extra = [f"calls {', '.join(sorted(self.outside))} from outside the build (libgcc), stack use unknown"]
        return self.reasons + (extra if self.outside else [])

    @property
    def margin_bytes(self) -> int:
        return UNCERTIFIED_MARGIN_BYTES if self.uncertain else 0

    @property
    def need_bytes(self) -> int:
        """What the stack must hold, rounded up to the 8-byte alignment of the AAPCS."""
        need = self.worst_path_bytes + self.interrupt_bytes + self.margin_bytes
        return (need + 7) // 8 * 8


def read_ci(path: Path) -> tuple[list[Frame], list[tuple[str, str]]]:
    """One .ci file: the functions it defines, with their frames, and its call edges. A node
    with a location and frame size is defined here (static functions are titled
    `file.c:name`, clones `name.constprop.0`: the .ci title is the one name edges use); an
    ellipse node without a size is a reference to a function defined elsewhere."""
    defined, edges = [], []
    for line in path.read_text().splitlines():
        m = _NODE.match(line.strip())
        if m:
            size = _SIZE.search(m.group(2))
            if size:
                defined.append(Frame(path.stem, short_name(m.group(1)), int(size.group(1)), size.group(2)))
            continue
        m = _EDGE.match(line.strip())
        if m:
            edges.append((short_name(m.group(1)), short_name(m.group(2))))
    return defined, edges


def short_name(title: str) -> str:
    """A .ci title without the folder of its source file (`/tmp/x/a.c:f` -> `a.c:f`)."""
    if ":" not in title:
        return title
    where, name = title.rsplit(":", 1)
    return f"{Path(where).name}:{name}"


def analyse(
    units: list[tuple[Path, Path]],
    entries: tuple[str, ...] = ("Reset_Handler", "main"),
    handlers: tuple[str, ...] = ("Default_Handler",),
) -> StackAnalysis:
    """The worst path over the call graph of `units` (pairs of .su and .ci files of one link).

    A call resolves to the caller's own unit first (a static helper out-of-lined there), else
    to any unit that defines the name (the largest frame if several do)."""
    frames: dict[tuple[str, str], Frame] = {}
    by_name: dict[str, list[tuple[str, str]]] = {}
    calls: dict[tuple[str, str], list[str]] = {}
    uncertain: list[str] = []
    outside: set[str] = set()
    for _su, ci in units:
        unit = ci.stem
        defined, edges = read_ci(ci)
        for fr in defined:
            by_name.setdefault(fr.name, []).append((unit, fr.name))
            frames[(unit, fr.name)] = fr
        for src, dst in edges:
            lst = calls.setdefault((unit, src), [])
            if dst not in lst:
                lst.append(dst)

    def resolve(unit: str, name: str) -> list[tuple[str, str]]:
        if (unit, name) in frames:
            return [(unit, name)]
        return by_name.get(name, [])

    memo: dict[tuple[str, str], tuple[int, list[str]]] = {}
    reported: set[str] = set()

    def note(reason: str) -> None:
        if reason not in reported:
            reported.add(reason)
            uncertain.append(reason)

    def deepest(key: tuple[str, str], active: tuple[tuple[str, str], ...]) -> tuple[int, list[str]]:
        if key in memo:
            return memo[key]
        fr = frames[key]
        if fr.kind.startswith("dynamic") and fr.kind != "dynamic,bounded":
            note(f"{fr.name} has a dynamic frame ({fr.bytes} B counted)")
        best, best_path = 0, []
        for callee in calls.get(key, []):
            if callee == INDIRECT:
                note(f"{fr.name} makes an indirect call")
                continue
            targets = resolve(key[0], callee)
            if not targets:
                outside.add(callee)
                continue
            for t in targets:
                if t in active or t == key:
                    note(f"{fr.name} and {t[1]} recurse")
                    continue
                b, p = deepest(t, active + (key,))
                if b > best or not best_path:
                    best, best_path = b, p
        memo[key] = (fr.bytes + best, [fr.name] + best_path)
        return memo[key]

    def from_names(names: tuple[str, ...]) -> tuple[int, list[str]]:
        for name in names:
            keys = by_name.get(name) or [k for k in frames if k[1] == name]
            if keys:
                return max((deepest(k, ()) for k in keys), key=lambda r: r[0])
        return 0, []

    worst, path = from_names(entries)
    if not path:
        note(f"no entry point ({' or '.join(entries)}) in the call graph")
    handler = max((from_names((h,))[0] for h in handlers), default=0)
    return StackAnalysis(worst, path, EXCEPTION_FRAME_BYTES + handler, uncertain, outside, frames)


# Symbols the linker script defines (see boards/support/link.ld.in), not functions.
LINKER_SYMBOLS = frozenset({"_sidata", "_sdata", "_edata", "_sbss", "_ebss", "_sstack", "_estack", "__global_pointer$"})


def outside_calls(objects: list[Path]) -> list[str]:
    """Functions the objects use but none defines: what the link takes from libgcc (e.g.
    __aeabi_ldivmod). GCC emits such calls late, so they are in no .ci file: their callers
    and frames are unknown to the graph."""
    from elftools.elf.elffile import ELFFile

    undefined, defined = set(), set()
    for obj in objects:
        with open(obj, "rb") as f:
            symtab = ELFFile(f).get_section_by_name(".symtab")
            for sym in symtab.iter_symbols() if symtab else ():
                if not sym.name or sym["st_info"]["type"] in ("STT_FILE", "STT_SECTION"):
                    continue
                (undefined if sym["st_shndx"] == "SHN_UNDEF" else defined).add(sym.name)
    return sorted(undefined - defined - LINKER_SYMBOLS)


def note_outside(analysis: StackAnalysis, names: list[str]) -> None:
    """Makes `analysis` uncertified for functions linked from outside the build."""
    analysis.outside.update(names)
