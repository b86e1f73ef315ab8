"""C emitter: CompiledModel -> <name>.h, <name>.c and the c_runtime files they use.

The output is deterministic: the same model and options give byte-identical files (no dates,
no paths, no dict-order dependence). Constant arrays are deduplicated by content. Text from the
model (tensor and op names) goes through names.comment_text, so it cannot end a comment or
break a line. Writing the files into a folder is outputs.py's job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from . import __version__
from .compiler import CompiledModel
from .ir import DTYPES, Tensor
from .names import comment_text
from .ops.base import CArray, Kernel

_DTYPE_CODES = {"int8": 1, "uint8": 2, "int16": 3, "int32": 4, "float32": 5}


def runtime_dir() -> Path:
    """c_runtime/ in a source checkout, or the copy inside an installed package."""
    here = Path(__file__).resolve().parent.parent / "c_runtime"
    if (here / "ec_common.h").exists():
        return here
    return Path(str(resources.files("edgeconv._c_runtime")))


@dataclass
class EmittedModel:
    files: dict[str, str]  # file name -> text
    flash_const_bytes: int  # weights, biases, multipliers, tables, params structs
    weights_bytes: int


def _c_float(x: float) -> str:
    r = repr(float(np.float32(x)))
    if "inf" in r or "nan" in r:
        raise ValueError(f"non-finite constant {x}")
    if "e" not in r and "." not in r:
        r += ".0"
    return r + "f"


def _format_values(values: np.ndarray, ctype: str, per_line: int = 16) -> str:
    if ctype == "float":
        items = [_c_float(v) for v in values.tolist()]
    elif ctype == "int32_t":
        # INT32_MIN cannot be written as a literal; spell it as an expression.
        items = ["(-2147483647 - 1)" if v == -(1 << 31) else str(v) for v in values.tolist()]
    elif ctype == "int64_t":
        # INT64_C gives the literal its type wherever long is 32 bits; INT64_MIN is an expression.
        items = ["(-INT64_C(9223372036854775807) - 1)" if v == -(1 << 63) else f"INT64_C({v})"
                 for v in values.tolist()]
    else:
        items = [str(v) for v in values.tolist()]
    if not items:
        return "0"
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(lines)


class _ConstPool:
    """Names and deduplicates the constant arrays of a model."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.by_key: dict[tuple[str, bytes], str] = {}
        self.decls: list[str] = []
        self.bytes = 0
        self.weight_bytes = 0

    def add(self, arr: CArray, hint: str) -> str:
        key = (arr.ctype, arr.values.tobytes())
        if key in self.by_key:
            return self.by_key[key]
        name = f"{self.prefix}_{hint}"
        self.by_key[key] = name
        n = max(arr.values.size, 1)
        self.decls.append(
            f"static const {arr.ctype} {name}[{n}] EC_ALIGN(16) = {{\n    {_format_values(arr.values, arr.ctype)}\n}};\n"
        )
        self.bytes += arr.nbytes
        if arr.role == "weights":
            self.weight_bytes += arr.nbytes
        return name


def _tensor_ctype(t: Tensor) -> str:
    return DTYPES[t.dtype][1]


def _macro_name(model: CompiledModel) -> str:
    return model.name.upper()


def emit(model: CompiledModel, expose_arena: bool = True) -> EmittedModel:
    name = model.name
    g = model.graph
    pool = _ConstPool(name)
    params_decls: list[str] = []
    calls: list[str] = []
    units: list[str] = []
    params_bytes = 0

    def arena_ptr(t: int, const: bool) -> str:
        tensor = g.tensors[t]
        qual = "const " if const else ""
        return f"({qual}{_tensor_ctype(tensor)} *)({name}_arena.bytes + {model.tensor_offset(t)})"

    def tensor_arg(t: int) -> str:
        tensor = g.tensors[t]
        if tensor.data is not None:
            return pool.add(CArray(_tensor_ctype(tensor), tensor.data, "weights"), f"t{t}")
        return arena_ptr(t, True)

    for i, step in enumerate(model.steps):
        k: Kernel = step.kernel
        for u in (k.unit, *k.extra_units):
            if u not in units:
                units.append(u)
        fields = []
        for fname, value in k.params.items():
            if isinstance(value, CArray):
                fields.append(f"    .{fname} = {pool.add(value, f'op{step.op.index}_{fname}')},")
                params_bytes += 4
            elif isinstance(value, (list, tuple, np.ndarray)):
                vals = ", ".join(str(int(v)) for v in np.asarray(value).reshape(-1))
                fields.append(f"    .{fname} = {{{vals}}},")
                params_bytes += 4 * max(len(value), 1)
            elif value is None:  # a pointer left NULL (a weight form the compiler did not choose)
                fields.append(f"    .{fname} = 0,")
                params_bytes += 4
            elif isinstance(value, float):
                fields.append(f"    .{fname} = {_c_float(value)},")
                params_bytes += 4
            else:
                v = int(value)
                fields.append(f"    .{fname} = {'(-2147483647 - 1)' if v == -(1 << 31) else v},")
                params_bytes += 4
        pname = f"{name}_op{step.op.index}"
        params_decls.append(
            f"/* op {step.op.index} {comment_text(step.op.opcode)}{': ' + comment_text(k.summary) if k.summary else ''} */\n"
            f"static const {k.params_type} {pname} = {{\n" + "\n".join(fields) + "\n};\n"
        )
        args = [f"&{pname}"]
        block = k.inputs_as_array or k.outputs_as_array  # the call gets a { } block for its arrays
        if block:
            calls.append("    {")
        if k.inputs_as_array:
            arr_type = _tensor_ctype(g.tensors[k.inputs[0]])
            lines = ", ".join(tensor_arg(t) for t in k.inputs)
            calls.append(f"        const {arr_type} *const inputs[{len(k.inputs)}] = {{{lines}}};")
            args.append("inputs")
        else:
            args.extend(tensor_arg(t) for t in k.inputs)
        if k.outputs_as_array:
            arr_type = _tensor_ctype(g.tensors[k.outputs[0]])
            lines = ", ".join(arena_ptr(t, False) for t in k.outputs)
            calls.append(f"        {arr_type} *const outputs[{len(k.outputs)}] = {{{lines}}};")
            args.append("outputs")
        else:
            args.extend(arena_ptr(t, False) for t in k.outputs)
        if k.scratch_bytes > 0:
            args.append(f"(void *)({name}_arena.bytes + {model.plan.offsets[f's{i}']})")
        call = f"{k.func}({', '.join(args)});"
        calls.append(f"{'        ' if block else '    '}EC_PROFILE_OP({i});")
        if block:
            calls.append(f"        {call}\n    }}")
        else:
            calls.append(f"    {call}")

    header = _emit_header(model, expose_arena)
    source = _emit_source(model, units, pool, params_decls, calls, expose_arena)
    files = {f"{name}.h": header, f"{name}.c": source}
    rt = runtime_dir()
    for fname in runtime_files(rt, units):
        files[fname] = (rt / fname).read_text()
    return EmittedModel(files, pool.bytes + params_bytes, pool.weight_bytes)


_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)


def runtime_files(rt: Path, units: list[str]) -> list[str]:
    """The c_runtime files a model needs: each unit's .h and .c, and every runtime header
    they include, transitively (so a header-only helper such as ec_dot.h comes along)."""
    wanted = ["ec_common.h"]
    for u in units:
        wanted += [f"{u}.h"] + ([f"{u}.c"] if (rt / f"{u}.c").exists() else [])
    seen: list[str] = []
    while wanted:
        fname = wanted.pop(0)
        if fname in seen:
            continue
        if not (rt / fname).exists():
            raise FileNotFoundError(f"c_runtime/{fname} is missing")
        seen.append(fname)
        wanted += [inc for inc in _INCLUDE.findall((rt / fname).read_text()) if (rt / inc).exists()]
    return sorted(seen)


def _io_macros(model: CompiledModel, kind: str, indices: list[int]) -> list[str]:
    NAME = _macro_name(model)
    lines = [f"#define {NAME}_NUM_{kind}S {len(indices)}"]
    for i, t in enumerate(indices):
        tensor = model.graph.tensors[t]
        p = f"{NAME}_{kind}{i}"
        dims = ", ".join(str(d) for d in tensor.shape) or "1"
        lines += [
            f"/* {kind.lower()} {i}: '{comment_text(tensor.name)}' {tensor.dtype} [{dims}] */",
            f"#define {p}_TYPE {_DTYPE_CODES.get(tensor.dtype, 0)} /* EC_TYPE_{tensor.dtype.upper()} */",
            f"#define {p}_RANK {len(tensor.shape)}",
            f"#define {p}_DIMS {{{dims}}}",
            f"#define {p}_SIZE {tensor.size} /* elements */",
            f"#define {p}_BYTES {tensor.nbytes}",
        ]
        if tensor.quant is not None:
            lines += [
                f"#define {p}_SCALE {_c_float(tensor.quant.s)}",
                f"#define {p}_ZERO_POINT {tensor.quant.zp}",
            ]
    return lines


def _emit_header(model: CompiledModel, expose_arena: bool) -> str:
    name, NAME = model.name, _macro_name(model)
    guard = f"{NAME}_H"
    lines = [
        f"/* {name}.h: generated by edgeconv {__version__}; do not edit.",
        f" * model sha256: {model.model_sha256 or 'unknown'}",
        " *",
        " * Usage:",
        f" *   int8_t *in = (int8_t *){name}_input(0);   fill {NAME}_INPUT0_SIZE values",
        f" *   {name}_invoke();",
        f" *   const int8_t *out = (const int8_t *){name}_output(0);",
        " *",
        " * Inputs and outputs live in one static arena of",
        f" * {NAME}_ARENA_SIZE bytes; an output pointer stays valid until the next invoke. The",
        " * weights are const arrays (flash). No function allocates memory. Not reentrant: one",
        " * inference at a time.",
        " * Type codes: 1 int8, 2 uint8, 3 int16, 4 int32, 5 float32. Real value =",
        " * SCALE * (q - ZERO_POINT).",
        " */",
        f"#ifndef {guard}",
        f"#define {guard}",
        "",
        "#include <stdint.h>",
        "",
        "#ifdef __cplusplus",
        'extern "C" {',
        "#endif",
        "",
        f"#define {NAME}_ARENA_SIZE {model.plan.size} /* bytes of RAM for all activations */",
        f"#define {NAME}_MACS {model.macs}",
    ]
    lines += _io_macros(model, "INPUT", model.graph.inputs)
    lines += _io_macros(model, "OUTPUT", model.graph.outputs)
    lines += [
        "",
        "/* Pointer to input `index` (0-based) inside the arena; NULL if out of range. */",
        f"void *{name}_input(int index);",
        "/* Pointer to output `index` inside the arena; NULL if out of range. */",
        f"const void *{name}_output(int index);",
        "/* Run one inference on the current inputs. Returns 0. */",
        f"int {name}_invoke(void);",
    ]
    if expose_arena:
        lines += [
            "/* The arena itself, for tools that inspect intermediate tensors (validation). */",
            f"const uint8_t *{name}_arena_base(void);",
        ]
    lines += ["", "#ifdef __cplusplus", "}", "#endif", "", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def _emit_source(model, units, pool, params_decls, calls, expose_arena) -> str:
    name = model.name
    g = model.graph
    includes = [f'#include "{name}.h"', '#include "ec_common.h"'] + [
        f'#include "{u}.h"' for u in units
    ]

    def table(kind: str, indices: list[int], const: bool) -> list[str]:
        q = "const " if const else ""
        fn = f"{q}void *{name}_{kind}(int index)"
        body = [fn + " {", "    switch (index) {"]
        for i, t in enumerate(indices):
            body.append(f"    case {i}: return ({q}void *)({name}_arena.bytes + {model.tensor_offset(t)});")
        body += ["    default: return (void *)0; /* no <stddef.h> needed for NULL */", "    }", "}", ""]
        return body

    lines = [
        f"/* {name}.c: generated by edgeconv {__version__}; do not edit.",
        f" * model sha256: {model.model_sha256 or 'unknown'}",
        f" * {len(model.steps)} kernels, {model.macs} MACs, arena {model.plan.size} bytes",
        f" * (lower bound {model.plan.lower_bound}), constants {pool.bytes} bytes.",
        " */",
        *includes,
        "",
        "/* The one arena: every activation tensor and scratch buffer, at offsets planned at",
        " * compile time. A union with int64_t keeps it aligned without compiler extensions; the",
        " * member is never read, which is its point. */",
        "/* cppcheck-suppress unusedStructMember */",
        f"static union {{ uint8_t bytes[{max(model.plan.size, 1)}]; int64_t align; }} {name}_arena EC_ALIGN(16);",
        "",
        *pool.decls,
        *params_decls,
        *table("input", g.inputs, False),
        *table("output", g.outputs, True),
        f"int {name}_invoke(void) {{",
        *calls,
        "    return 0;",
        "}",
        "",
    ]
    if expose_arena:
        lines += [f"const uint8_t *{name}_arena_base(void) {{ return {name}_arena.bytes; }}", ""]
    return "\n".join(lines)
