"""The kernels' params structs, read from the C runtime's headers: the one declaration of them.

Every c_runtime header declares its kernels' parameters as `typedef struct { ... } ec_*_params_t;`.
A lowering describes one call as a Kernel whose `params` dict names those fields; the emitter
writes them as designated initializers. This module reads the headers into KernelStruct tables
(pycparser; each struct once, when a compile first uses it), and `check_params` holds a params
dict against its struct before anything is written: a key the struct lacks, a field the dict
lacks, a value of the wrong kind (a scalar for an array or a reference, an array of another
length or element type, a constant array for a plain field) or out of its C type's range is a
KernelParamsError naming the op, the struct and the field. That is a compiler bug, never the
user's, so it is an AssertionError: renaming a field on either side fails every compile that
uses the kernel.

How the headers are read: comments and preprocessor lines are dropped, the integer macros the
headers #define (EC_MAX_DIMS, EC_PAD_MAX_DIMS, ...) are substituted, and each EC_CREF(T) (a
reference to constant Ts, ec_common.h: a pointer, or a flash address on a far AVR) becomes a
placeholder type name that pycparser sees as a typedef, so that a field keeps the fact that it
is a reference. Anything else the parser does not know (another type, a nested struct, a
macro) is an error naming the header, so a header this module cannot read is never half-read.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgeconv.lowering.ops.base import CArray

# The element types a params field may have: the <stdint.h> integer types and float. Each one's
# range (None: floating point) and size come from numpy's type of the same name.
_NUMPY_OF = {
    "float": np.float32,
    **{f"{s}int{n}_t": np.dtype(f"{s}int{n}").type for s in ("", "u") for n in (8, 16, 32, 64)},
}
C_TYPES: dict[str, tuple[int, int] | None] = {
    c: (None if c == "float" else (int(np.iinfo(t).min), int(np.iinfo(t).max))) for c, t in _NUMPY_OF.items()
}
C_TYPE_BYTES: dict[str, int] = {c: np.dtype(t).itemsize for c, t in _NUMPY_OF.items()}
_CREF_PREFIX = "EC_CREF__"  # EC_CREF(int8_t) is read as the type name EC_CREF__int8_t


class KernelParamsError(AssertionError):
    """A lowering's params and the C struct they initialize disagree: a bug in edgeconv."""


@dataclass(frozen=True)
class Field:
    name: str
    ctype: str  # the element type: int32_t, float, ... (for a pointer or reference, the pointee)
    kind: str  # "scalar", "array" (ctype name[length]), "cref" (EC_CREF(ctype)) or "pointer"
    length: int | None = None  # an array's element count
    const: bool = False  # a pointer to const (a reference is always const)

    @property
    def is_reference(self) -> bool:
        return self.kind in ("cref", "pointer")

    def size(self, pointer_bytes: int) -> int:
        if self.is_reference:
            return pointer_bytes
        return C_TYPE_BYTES[self.ctype] * (self.length or 1)

    def alignment(self, pointer_bytes: int) -> int:
        return pointer_bytes if self.is_reference else C_TYPE_BYTES[self.ctype]


@dataclass(frozen=True)
class KernelStruct:
    name: str  # ec_conv2d_params_t
    header: str  # ec_conv.h
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field | None:
        return next((f for f in self.fields if f.name == name), None)

    @property
    def field_names(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields)

    def layout(self, pointer_bytes: int = 4) -> tuple[dict[str, int], int]:
        """Each field's offset and the struct's size where every type is naturally aligned and a
        pointer (or EC_CREF) takes `pointer_bytes`: a 32-bit target's by default."""
        offsets: dict[str, int] = {}
        end, align = 0, 1
        for f in self.fields:
            a = f.alignment(pointer_bytes)
            offsets[f.name] = -(-end // a) * a
            end = offsets[f.name] + f.size(pointer_bytes)
            align = max(align, a)
        return offsets, -(-end // align) * align


# ---------------------------------------------------------------------------------------------
# Reading the headers

_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DEFINE_INT = re.compile(r"^\s*#\s*define\s+([A-Z][A-Z0-9_]*)\s+\(?\s*(\d+)\s*\)?\s*$", re.M)
_PREPROCESSOR = re.compile(r"^\s*#.*$", re.M)
_TYPEDEF = re.compile(r"\btypedef\s+struct\s*\w*\s*\{([^{}]*)\}\s*(\w+)\s*;")
_PARAMS_NAME = re.compile(r"\}\s*(ec_\w*params_t)\s*;")
_CREF = re.compile(r"\bEC_CREF\s*\(\s*(\w+)\s*\)")


def _strip(text: str) -> str:
    """Comments out, then continued lines joined (a macro body spans them)."""
    return _COMMENT.sub(" ", text).replace("\\\n", " ")


def integer_macros(texts: dict[str, str]) -> dict[str, int]:
    """`#define NAME <integer>` of every header (EC_MAX_DIMS 6, EC_PAD_MAX_DIMS 5, ...)."""
    macros: dict[str, int] = {}
    for text in texts.values():
        for name, value in _DEFINE_INT.findall(_strip(text)):
            macros[name] = int(value)
    return macros


def _prelude(decl: str) -> str:
    """The typedefs pycparser needs to read `decl`: those of the type names it uses (each
    line of a prelude costs a parse its time)."""
    names = [t for t in C_TYPES if t != "float"] + [_CREF_PREFIX + t for t in C_TYPES]
    return "".join(f"typedef int {t};\n" for t in names if re.search(rf"\b{t}\b", decl))


def _const_value(node, where: str) -> int:
    from pycparser import c_ast

    if isinstance(node, c_ast.Constant) and node.type == "int":
        return int(node.value.rstrip("uUlL"), 0)
    if isinstance(node, c_ast.BinaryOp) and node.op in ("+", "-", "*"):
        a, b = _const_value(node.left, where), _const_value(node.right, where)
        return {"+": a + b, "-": a - b, "*": a * b}[node.op]
    raise ValueError(f"{where}: an array length that is not an integer constant expression")


def _field(decl, where: str) -> Field:
    from pycparser import c_ast

    t = decl.type
    where = f"{where}.{decl.name}"
    # Like the pointer case below, but an array has a length and its own wording in the errors
    if isinstance(t, c_ast.ArrayDecl):
        elem = t.type
        if not (isinstance(elem, c_ast.TypeDecl) and isinstance(elem.type, c_ast.IdentifierType)):
            raise ValueError(f"{where}: an array of something other than a plain type")
        ctype = " ".join(elem.type.names)
        if ctype not in C_TYPES:
            raise ValueError(f"{where}: element type {ctype} is not one of {', '.join(C_TYPES)}")
        if t.dim is None:
            raise ValueError(f"{where}: an array without a length")
        return Field(decl.name, ctype, "array", _const_value(t.dim, where))
    # Like the array case above, but a pointer has constness instead of a length
    if isinstance(t, c_ast.PtrDecl):
        target = t.type
        if not (isinstance(target, c_ast.TypeDecl) and isinstance(target.type, c_ast.IdentifierType)):
            raise ValueError(f"{where}: a pointer to something other than a plain type")
        ctype = " ".join(target.type.names)
        if ctype not in C_TYPES:
            raise ValueError(f"{where}: pointee type {ctype} is not one of {', '.join(C_TYPES)}")
        return Field(decl.name, ctype, "pointer", const="const" in target.quals)
    if isinstance(t, c_ast.TypeDecl) and isinstance(t.type, c_ast.IdentifierType):
        ctype = " ".join(t.type.names)
        if ctype.startswith(_CREF_PREFIX):
            return Field(decl.name, ctype[len(_CREF_PREFIX) :], "cref", const=True)
        if ctype not in C_TYPES:
            raise ValueError(f"{where}: type {ctype} is not one of {', '.join(C_TYPES)}")
        return Field(decl.name, ctype, "scalar")
    raise ValueError(f"{where}: a field pycparser reads as {type(t).__name__}, not a scalar, array or pointer")


class KernelStructs(Mapping):
    """The params structs of a set of headers, by name: every name is known from a scan of the
    text; a struct is parsed (pycparser) the first time it is asked for, so that a compile
    reads only the structs its model uses."""

    def __init__(self, decls: dict[str, tuple[str, str]]) -> None:
        self._decls = decls  # name -> (header, its declaration as pycparser reads it)
        self._parsed: dict[str, KernelStruct] = {}

    def __getitem__(self, name: str) -> KernelStruct:
        if name not in self._parsed:
            header, decl = self._decls[name]
            self._parsed[name] = _parse_struct(name, header, decl)
        return self._parsed[name]

    def __iter__(self):
        return iter(self._decls)

    def __len__(self) -> int:
        return len(self._decls)


def _parse_struct(name: str, header: str, decl: str) -> KernelStruct:
    from pycparser import c_ast, c_parser

    try:
        ast = c_parser.CParser().parse(_prelude(decl) + decl, filename=header)
    except c_parser.ParseError as exc:  # it names a line of the text above
        raise ValueError(f"c_runtime/{header}: {name} cannot be read: {exc}") from None
    typedef = ast.ext[-1]
    assert isinstance(typedef, c_ast.Typedef) and typedef.name == name
    assert isinstance(typedef.type.type, c_ast.Struct)
    return KernelStruct(name, header, tuple(_field(d, f"{header}: {name}") for d in typedef.type.type.decls or ()))


def parse_headers(texts: dict[str, str]) -> KernelStructs:
    """Every `typedef struct { ... } ec_*params_t;` of the given headers (file name -> text),
    each parsed when first asked for."""
    macros = integer_macros(texts)
    macro_re = re.compile(r"\b(" + "|".join(map(re.escape, macros)) + r")\b") if macros else None
    decls: dict[str, tuple[str, str]] = {}
    for header, text in sorted(texts.items()):
        code = _PREPROCESSOR.sub(" ", _strip(text))
        wanted = set(_PARAMS_NAME.findall(code))
        for m in _TYPEDEF.finditer(code):
            name = m.group(2)
            if name not in wanted:
                continue
            wanted.discard(name)
            if name in decls:
                raise ValueError(f"c_runtime/{header}: {name} is also declared in {decls[name][0]}")
            body = _CREF.sub(lambda c: f"{_CREF_PREFIX}{c.group(1)}", m.group(1))
            if macro_re is not None:
                body = macro_re.sub(lambda c: str(macros[c.group(1)]), body)
            decls[name] = (header, "typedef struct {" + body + "} " + name + ";\n")
        if wanted:
            raise ValueError(f"c_runtime/{header}: {', '.join(sorted(wanted))} not read (a nested brace?)")
    return KernelStructs(decls)


@functools.cache
def _structs_of(rt: str) -> KernelStructs:
    texts = {p.name: p.read_text() for p in sorted(Path(rt).glob("*.h"))}
    return parse_headers(texts)


def kernel_structs(rt: Path) -> KernelStructs:
    """The params structs of the runtime folder `rt` (emitter.runtime_dir()): its headers read
    once, each struct parsed once, when first used."""
    return _structs_of(str(Path(rt).resolve()))


# ---------------------------------------------------------------------------------------------
# Holding a params dict against its struct


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _check_int(v, ctype: str, say) -> int:
    if not _is_int(v):
        raise say(f"{type(v).__name__} {v!r} for a {ctype}")
    lo, hi = C_TYPES[ctype]
    if not lo <= int(v) <= hi:
        raise say(f"{int(v)} does not fit {ctype} [{lo}, {hi}]")
    return int(v)


def check_params(struct: KernelStruct, params: dict, what: str) -> None:
    """Refuse (KernelParamsError) a params dict that does not initialize `struct` exactly:
    every field given, no other key, each value of the field's kind and within its type.
    `what` names the op in the message ("op 3 CONV_2D")."""

    def say(field: str):
        return lambda problem: KernelParamsError(
            f"{what}: {struct.name}.{field} (c_runtime/{struct.header}): {problem}"
        )

    extra = [k for k in params if struct.field(k) is None]
    if extra:
        raise say(extra[0])(f"no such field; the struct has {', '.join(struct.field_names)}")
    missing = [f.name for f in struct.fields if f.name not in params]
    if missing:
        raise say(missing[0])("not given (every field must be: a zero is written as 0, a NULL reference as None)")
    for f in struct.fields:
        v, bad = params[f.name], say(f.name)
        if f.is_reference:
            if v is None:
                continue
            if not isinstance(v, CArray):
                raise bad(f"{type(v).__name__} for a reference to {f.ctype} (a CArray or None)")
            if v.ctype != f.ctype:
                raise bad(f"an array of {v.ctype} for a reference to {f.ctype}")
            if v.program_memory != (f.kind == "cref"):
                raise bad(
                    "an EC_CREF field takes a program_memory CArray, a plain pointer an ordinary one"
                    if f.kind == "cref"
                    else "a plain pointer cannot take a program_memory CArray"
                )
            continue
        if isinstance(v, CArray) or v is None:
            raise bad(f"{'a constant array' if v is not None else 'None'} for a {f.kind} {f.ctype}")
        if f.kind == "array":
            if not isinstance(v, (list, tuple, np.ndarray)):
                raise bad(f"{type(v).__name__} for {f.ctype}[{f.length}]")
            values = list(np.asarray(v).reshape(-1)) if isinstance(v, np.ndarray) else list(v)
            if len(values) != f.length:
                raise bad(f"{len(values)} values for {f.ctype}[{f.length}]")
            for x in values:
                _check_int(x, f.ctype, bad) if f.ctype != "float" else _check_float(x, bad)
            continue
        if isinstance(v, (list, tuple, np.ndarray)):
            raise bad(f"a sequence for a scalar {f.ctype}")
        if f.ctype == "float":
            _check_float(v, bad)
        else:
            _check_int(v, f.ctype, bad)


def _check_float(v, say) -> None:
    if not isinstance(v, (float, int, np.floating, np.integer)) or isinstance(v, (bool, np.bool_)):
        raise say(f"{type(v).__name__} {v!r} for a float")
    if not math.isfinite(float(v)):
        raise say(f"{v} is not finite")
