"""C emitter: CompiledModel -> <name>.h, <name>.c and the c_runtime files they use.

Options: where the arena lives (static per model, the shared ec_shared_arena, or a buffer the
user passes to <name>_init), float helpers in a separate <name>_float.h/.c, class labels.
Every runtime copy carries the runtime's version (runtime_version: a hash of all c_runtime
sources) in ec_common.h, and every model .c checks it with #error. Several models with one
runtime copy: bundle.py.

The output is deterministic: the same model and options give byte-identical files (no dates,
no paths, no dict-order dependence). Constant arrays are deduplicated by content. Text from the
model (tensor and op names) goes through names.comment_text, so it cannot end a comment or
break a line. Writing the files into a folder is outputs.py's job.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from edgeconv.emit.kernel_params import KernelParamsError, KernelStruct, check_params, kernel_structs
from edgeconv.frontend.dtypes import ELEMENT_TYPES
from edgeconv.frontend.ir import Tensor
from edgeconv.frontend.names import comment_text
from edgeconv.lowering.compiler import CompiledModel
from edgeconv.lowering.ops.base import CArray, Kernel
from edgeconv.version import __version__


def runtime_dir() -> Path:
    """c_runtime/ in a source checkout, or the copy inside an installed package."""
    here = Path(__file__).resolve().parents[2] / "c_runtime"
    if (here / "ec_common.h").exists():
        return here
    return Path(str(resources.files("edgeconv._c_runtime")))


# ec_common.h in the source tree carries these placeholders; every emitted copy carries the
# runtime's real version in their place (runtime_version()).
_VERSION_PLACEHOLDER = "0.0.0+source"
_VERSION_ID_PLACEHOLDER = "0x00000000UL"
ARENA_MODES = ("static", "shared", "user")
SHARED_ARENA_NAME = "ec_shared_arena"


@dataclass(frozen=True)
class RuntimeVersion:
    text: str  # "<edgeconv version>+<8 hex digits of the runtime sources' sha256>"
    ident: str  # the same 8 hex digits as a C constant, compared with #if

    @property
    def digest(self) -> str:
        return self.text.rsplit("+", 1)[1]


def runtime_version(rt: Path | None = None) -> RuntimeVersion:
    """The version of the C runtime: a hash of every c_runtime source (not only those one
    model uses), so the files are byte-identical whatever the model, and a runtime folder
    written for one model serves another compiled by the same edgeconv."""
    rt = rt or runtime_dir()
    h = hashlib.sha256()
    for f in sorted(p for p in rt.iterdir() if p.suffix in (".c", ".h")):
        h.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
    digest = h.hexdigest()[:8]
    return RuntimeVersion(f"{__version__}+{digest}", f"0x{digest}UL")


def runtime_file_text(rt: Path, fname: str, version: RuntimeVersion) -> str:
    """A runtime file as emitted: ec_common.h gets the runtime version in place of its
    placeholders; every other file is copied as it is."""
    text = (rt / fname).read_text()
    if fname == "ec_common.h":
        if _VERSION_PLACEHOLDER not in text or _VERSION_ID_PLACEHOLDER not in text:
            raise ValueError("c_runtime/ec_common.h lost its runtime version placeholders")
        text = text.replace(_VERSION_PLACEHOLDER, version.text).replace(_VERSION_ID_PLACEHOLDER, version.ident)
    return text


@dataclass
class EmittedModel:
    files: dict[str, str]  # file name -> text
    flash_const_bytes: int  # weights, biases, multipliers, tables, params structs
    weights_bytes: int
    # of flash_const_bytes, the arrays marked EC_FLASH_ARRAY (in program memory on an AVR,
    # ec_common.h; ordinary const data elsewhere)
    program_memory_bytes: int = 0


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
        items = ["(-INT64_C(9223372036854775807) - 1)" if v == -(1 << 63) else f"INT64_C({v})" for v in values.tolist()]
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
        self.by_key: dict[tuple[str, bytes, bool], str] = {}
        self.decls: list[str] = []
        self.bytes = 0
        self.weight_bytes = 0
        self.program_memory_bytes = 0

    def add(self, arr: CArray, hint: str) -> str:
        # program memory in the key: an array read directly never shares one read by accessor
        key = (arr.ctype, arr.values.tobytes(), arr.program_memory)
        if key in self.by_key:
            return self.by_key[key]
        name = f"{self.prefix}_{hint}"
        self.by_key[key] = name
        if arr.program_memory and arr.nbytes > FLASH_PART_BYTES:
            self.decls.append(_split_array_decl(arr, name))
        else:
            n = max(arr.values.size, 1)
            # EC_FLASH_ARRAY (ec_common.h): only on arrays the kernels read through the accessors
            flash = " EC_FLASH_ARRAY" if arr.program_memory else ""
            self.decls.append(
                f"static const {arr.ctype} {name}[{n}] EC_WEIGHTS_SECTION{flash} EC_ALIGN(16) = {{\n"
                f"    {_format_values(arr.values, arr.ctype)}\n}};\n"
            )
        self.bytes += arr.nbytes
        if arr.role == "weights":
            self.weight_bytes += arr.nbytes
        if arr.program_memory:
            self.program_memory_bytes += arr.nbytes
        return name


# avr-gcc refuses any object over 32,767 bytes (its ptrdiff_t is 16 bits): a program-memory array
# larger than this is emitted, where the constants are in flash (EC_CONSTANTS_IN_FLASH), in parts
# of at most this many bytes (a multiple of 16, so that consecutive parts leave no gap), one after
# another in one section (EC_FLASH_ARRAY: no_reorder); the kernel reads them as one range from the
# first part's address. Everywhere else the array is one object.
FLASH_PART_BYTES = 32752


def _split_array_decl(arr: CArray, name: str) -> str:
    """The declaration of a program-memory array over FLASH_PART_BYTES: its values once, as one
    macro per part, then the parts (in flash) or the whole array (elsewhere)."""
    per = FLASH_PART_BYTES // (arr.nbytes // arr.values.size)
    chunks = [arr.values[i : i + per] for i in range(0, arr.values.size, per)]
    macro = name.upper() + "_V"
    lines = [f"/* {name}: {arr.nbytes:,} B, in {len(chunks)} parts where the constants are in flash (ec_common.h) */"]
    for k, c in enumerate(chunks):
        body = _format_values(c, arr.ctype).replace("\n", " \\\n")
        lines.append(f"#define {macro}{k} \\\n    {body}")
    lines.append("#if defined(EC_CONSTANTS_IN_FLASH)")
    for k, c in enumerate(chunks):
        part = name if k == 0 else f"{name}_p{k}"
        lines.append(f"static const {arr.ctype} {part}[{c.size}] EC_FLASH_ARRAY EC_ALIGN(16) = {{{macro}{k}}};")
    lines.append("#else")
    every = ", ".join(f"{macro}{k}" for k in range(len(chunks)))
    lines.append(
        f"static const {arr.ctype} {name}[{arr.values.size}] EC_WEIGHTS_SECTION EC_FLASH_ARRAY EC_ALIGN(16) = "
        f"{{{every}}};"
    )
    lines.append("#endif")
    lines += [f"#undef {macro}{k}" for k in range(len(chunks))]
    return "\n".join(lines) + "\n"


@dataclass
class ParamsInit:
    """A params struct's designated initializer, checked against its C declaration."""

    lines: list[str]  # "    .field = value," in the struct's declaration order
    references: list[tuple[str, str]]  # (field, array) of its EC_CREF fields that point at an array
    nbytes: int  # the struct's size on a 32-bit target (what the flash figure counts)


def _c_int(v: int) -> str:
    if v == -(1 << 31):  # INT32_MIN cannot be written as a literal
        return "(-2147483647 - 1)"
    if not -(1 << 31) <= v < (1 << 31):  # INT64_C gives the literal its type wherever long is 32 bits
        return "(-INT64_C(9223372036854775807) - 1)" if v == -(1 << 63) else f"INT64_C({v})"
    return str(v)


def params_initializer(
    structs: Mapping[str, KernelStruct],
    params_type: str,
    params: dict,
    what: str,
    pool: _ConstPool | None = None,
    hint: str = "",
) -> ParamsInit:
    """The initializer of one params struct from a lowering's params dict, after check_params
    (kernel_params.py) held the dict against the struct the C headers declare (a mismatch is a
    KernelParamsError naming `what`, the struct and the field). Constant arrays go into `pool`
    in the dict's order (their names and order in the file do not depend on the header's)."""
    struct = structs.get(params_type)
    if struct is None:
        raise KernelParamsError(f"{what}: {params_type} is declared in no c_runtime header")
    check_params(struct, params, what)
    arrays: dict[str, str] = {}
    for fname, value in params.items():
        if isinstance(value, CArray):
            if pool is None:
                raise KernelParamsError(f"{what}: {params_type}.{fname}: a constant array where none can be emitted")
            arrays[fname] = pool.add(value, f"{hint}_{fname}")
    lines: list[str] = []
    refs: list[tuple[str, str]] = []
    for f in struct.fields:
        value = params[f.name]
        if f.is_reference:
            if value is None:  # a pointer left NULL (a weight form the compiler did not choose)
                text = "0"
            elif f.kind == "cref":  # a flash address on a far AVR, set at invoke (EC_CREF_FIX)
                text = f"EC_CREF_INIT({arrays[f.name]})"
                refs.append((f.name, arrays[f.name]))
            else:
                text = arrays[f.name]
        elif f.kind == "array":
            text = "{" + ", ".join(str(int(v)) for v in np.asarray(value).reshape(-1)) + "}"
        elif f.ctype == "float":
            text = _c_float(value)
        else:
            text = _c_int(int(value))
        lines.append(f"    .{f.name} = {text},")
    return ParamsInit(lines, refs, struct.layout(4)[1])


def _params_loader(model_name: str, op: int, params_type: str, member: str, refs: list[tuple[str, str]]) -> list[str]:
    """Where the constants are in flash: <name>_load_op<op>, which copies op's params struct
    (<name>_op<op>, in flash) into SRAM, writes its references there (a far AVR) and returns it
    (<NAME>_OP_PARAMS(op) is *<name>_load_op<op>() there)."""
    pname = f"{model_name}_op{op}"
    return [
        f"static const {params_type} *{model_name}_load_op{op}(void) {{",
        f"    EC_PARAMS_LOAD({member}, {pname});",
        *(f"    EC_CREF_FIX({member}.{f}, {a});" for f, a in refs),
        f"    return &{member};",
        "}",
    ]


def _tensor_ctype(t: Tensor) -> str:
    return ELEMENT_TYPES[t.dtype].ctype


def _macro_name(model: CompiledModel) -> str:
    return model.name.upper()


def arena_base(model: CompiledModel, arena: str) -> str:
    """The C expression of the arena's first byte (a uint8_t *) in the model's .c."""
    if arena not in ARENA_MODES:
        raise ValueError(f"arena {arena!r}: one of {', '.join(ARENA_MODES)}")
    return {
        "static": f"{model.name}_arena.bytes",
        "shared": f"{SHARED_ARENA_NAME}.bytes",
        "user": f"{model.name}_arena_ptr",
    }[arena]


def tensor_address(model: CompiledModel, t: int, arena: str) -> str:
    """The C expression of tensor t's first byte: in the arena, or in its own I/O buffer."""
    for j, b in enumerate(model.io_blocks):
        if t in b.tensors:
            return f"{model.name}_io{j}.bytes"
    return f"{arena_base(model, arena)} + {model.tensor_offset(t)}"


def emit(
    model: CompiledModel,
    expose_arena: bool = True,
    arena: str = "static",
    float_helpers: bool = False,
    labels: list[str] | None = None,
    version: RuntimeVersion | None = None,
) -> EmittedModel:
    """<name>.h and <name>.c (and the runtime files they use). `arena`: static (the model's own
    static arena, the default), shared (ec_shared_arena, written by bundle.emit_bundle) or
    user (<name>_init(void *arena) takes the buffer). `float_helpers` adds <name>_float.h/.c
    (quantize inputs, dequantize outputs); `labels` the class names (<NAME>_NUM_LABELS,
    <name>_labels)."""
    name = model.name
    g = model.graph
    pool = _ConstPool(name)
    version = version or runtime_version()
    base = arena_base(model, arena)
    params_decls: list[str] = []
    # Where the constants are in flash (an AVR, ec_common.h), the params structs are too: each is
    # copied into <name>_params (one union member per params type, in SRAM) before its kernel
    # runs, and its references are written there on a far AVR (EC_CREF_FIX), by one loader
    # function per op; each call passes &<NAME>_OP_PARAMS(op): the loader's copy there, the
    # struct itself (<name>_op<op>) elsewhere.
    params_types: list[str] = []
    loaders: list[list[str]] = []
    structs = kernel_structs(runtime_dir())
    calls: list[str] = []
    units: list[str] = []
    params_bytes = 0

    def arena_ptr(t: int, const: bool) -> str:
        tensor = g.tensors[t]
        qual = "const " if const else ""
        return f"({qual}{_tensor_ctype(tensor)} *)({tensor_address(model, t, arena)})"

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
        pname = f"{name}_op{step.op.index}"
        init = params_initializer(
            structs, k.params_type, k.params, f"op {step.op.index} {step.op.opcode}", pool, f"op{step.op.index}"
        )
        params_bytes += init.nbytes
        params_decls.append(
            f"/* op {step.op.index} {comment_text(step.op.opcode)}"
            f"{': ' + comment_text(k.summary) if k.summary else ''} */\n"
            f"static const {k.params_type} {pname} EC_FLASH_ARRAY = {{\n" + "\n".join(init.lines) + "\n};\n"
        )
        if k.params_type not in params_types:
            params_types.append(k.params_type)
        member = f"{name}_params.m{params_types.index(k.params_type)}"
        loaders.append(_params_loader(name, step.op.index, k.params_type, member, init.references))
        args = [f"&{_macro_name(model)}_OP_PARAMS({step.op.index})"]
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
            args.append(f"(void *)({base} + {model.plan.offsets[f's{i}']})")
        ind = "        " if block else "    "
        calls.append(f"{ind}EC_PROFILE_OP({i});")
        calls.append(f"{ind}{k.func}({', '.join(args)});")
        if block:
            calls.append("    }")

    header = _emit_header(model, expose_arena, arena, labels)
    source = _emit_source(
        model, units, pool, params_decls, calls, expose_arena, arena, version, labels, params_types, loaders
    )
    files = {f"{name}.h": header, f"{name}.c": source}
    if float_helpers:
        files.update(emit_float_helpers(model, arena))
    rt = runtime_dir()
    # The float helpers call the runtime's QUANTIZE and DEQUANTIZE kernels.
    rt_units = units + [u for u in ("ec_quantize", "ec_dequantize") if float_helpers and u not in units]
    for fname in runtime_files(rt, rt_units):
        files[fname] = runtime_file_text(rt, fname, version)
    # the params structs are in program memory as well where the constants are (EC_FLASH_ARRAY)
    return EmittedModel(files, pool.bytes + params_bytes, pool.weight_bytes, pool.program_memory_bytes + params_bytes)


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
            f"#define {p}_TYPE {ELEMENT_TYPES[tensor.dtype].macro}",
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


_ARENA_USAGE = {
    "static": [
        " * Inputs and outputs live in one static arena of",
        " * @NAME@_ARENA_SIZE bytes; an output pointer stays valid until the next invoke.",
    ],
    "shared": [
        " * The arena is ec_shared_arena (ec_shared_arena.h/.c), one buffer of",
        " * EC_SHARED_ARENA_SIZE bytes shared by every model compiled with --shared-arena: run",
        " * those models one after another, write a model's inputs after the previous model's",
        " * invoke and read its outputs before the next model's invoke (an output pointer is",
        " * valid until any of them runs again).",
    ],
    "user": [
        " * The arena is yours: call @name@_init(buffer) with @NAME@_ARENA_SIZE bytes aligned to",
        " * @NAME@_ARENA_ALIGNMENT before anything else (invoke returns -1 until then). Several",
        " * models may be given the same buffer if they run one after another (write inputs",
        " * after the previous model's invoke, read outputs before the next one).",
    ],
}


def c_header(comment: list[str], guard: str, include: str, body: list[str]) -> str:
    """Every generated header's frame: its comment, the include guard, one #include, and the
    body inside extern "C" for C++ (the model's, its float helpers' and the shared arena's)."""
    return "\n".join(
        [
            *comment,
            f"#ifndef {guard}",
            f"#define {guard}",
            "",
            f"#include {include}",
            "",
            "#ifdef __cplusplus",
            'extern "C" {',
            "#endif",
            "",
            *body,
            "",
            "#ifdef __cplusplus",
            "}",
            "#endif",
            "",
            f"#endif /* {guard} */",
            "",
        ]
    )


def _emit_header(
    model: CompiledModel, expose_arena: bool, arena: str = "static", labels: list[str] | None = None
) -> str:
    name, NAME = model.name, _macro_name(model)
    guard = f"{NAME}_H"
    usage = [line.replace("@NAME@", NAME).replace("@name@", name) for line in _ARENA_USAGE[arena]]
    if model.io_blocks:
        usage.append(f" * Inputs and outputs are in their own static buffers ({NAME}_IO_BYTES bytes), outside it.")
    comment = [
        f"/* {name}.h: generated by edgeconv {__version__}; do not edit.",
        f" * model sha256: {model.model_sha256 or 'unknown'}",
        " *",
        " * Usage:",
        *(
            [f" *   {name}_init(arena);   once: {NAME}_ARENA_SIZE bytes, {NAME}_ARENA_ALIGNMENT-aligned"]
            if arena == "user"
            else []
        ),
        f" *   int8_t *in = (int8_t *){name}_input(0);   fill {NAME}_INPUT0_SIZE values",
        f" *   {name}_invoke();",
        f" *   const int8_t *out = (const int8_t *){name}_output(0);",
        " *",
        *usage,
        " * The weights are const arrays (flash). No function allocates memory. Not reentrant:",
        " * one inference at a time. EC_ARENA_SECTION / EC_WEIGHTS_SECTION (ec_common.h) place",
        " * the arena and the weights in named sections.",
        " * <P>_TYPE is one of the EC_TYPE_* codes below. Real value = SCALE * (q - ZERO_POINT).",
        " */",
    ]
    lines = [
        "/* Element type codes of the <P>_TYPE macros, the same in every edgeconv header (an identical",
        " * redefinition is valid C, so several models' headers can be included together). */",
        *[f"#define {t.macro} {t.code}" for t in sorted(ELEMENT_TYPES.values(), key=lambda t: t.code)],
        "",
        f"#define {NAME}_ARENA_SIZE {model.plan.size} /* bytes of RAM for all activations */",
        f"#define {NAME}_ARENA_ALIGNMENT {model.plan.alignment} /* the arena's start, in bytes */",
    ]
    if model.io_blocks:
        io_bytes = sum(_io_block_bytes(b, model) for b in model.io_blocks)
        lines.append(f"#define {NAME}_IO_BYTES {io_bytes} /* inputs and outputs, outside the arena */")
    lines += [f"#define {NAME}_MACS {model.macs}"]
    lines += _io_macros(model, "INPUT", model.graph.inputs)
    lines += _io_macros(model, "OUTPUT", model.graph.outputs)
    if labels is not None:
        lines += [
            f"#define {NAME}_NUM_LABELS {len(labels)}",
            "/* The class names training gave the model's output, in output order. */",
            f"extern const char *const {name}_labels[{NAME}_NUM_LABELS];",
        ]
    lines += [""]
    if arena == "user":
        lines += [
            f"/* Give the model its arena: {NAME}_ARENA_SIZE bytes, {NAME}_ARENA_ALIGNMENT-aligned.",
            " * Returns 0, or -1 (and keeps the previous arena) for a NULL or misaligned buffer. */",
            f"int {name}_init(void *arena);",
        ]
    lines += [
        "/* Pointer to input `index` (0-based); NULL if out of range"
        f"{' or before init' if arena == 'user' else ''}. */",
        f"void *{name}_input(int index);",
        f"/* Pointer to output `index`; NULL if out of range{' or before init' if arena == 'user' else ''}. */",
        f"const void *{name}_output(int index);",
        f"/* Run one inference on the current inputs. Returns 0{' (-1 before init)' if arena == 'user' else ''}. */",
        f"int {name}_invoke(void);",
    ]
    if expose_arena:
        lines += [
            "/* The arena itself, for tools that inspect intermediate tensors (validation). */",
            f"const uint8_t *{name}_arena_base(void);",
        ]
    return c_header(comment, guard, "<stdint.h>", lines)


def _io_block_bytes(block, model: CompiledModel) -> int:
    return -(-max(block.size, 1) // model.plan.alignment) * model.plan.alignment


def _c_string(text: str) -> str:
    """A C string literal for any text: printable ASCII as is (escaping \\ and "), every other
    byte of its UTF-8 as an octal escape (three digits, so no following digit can join it)."""
    out = []
    for b in text.encode("utf-8"):
        c = chr(b)
        if c in '\\"':
            out.append("\\" + c)
        elif 32 <= b < 127 and c != "?":  # '?' escaped: no trigraphs
            out.append(c)
        else:
            out.append(f"\\{b:03o}")
    return '"' + "".join(out) + '"'


def _emit_source(
    model,
    units,
    pool,
    params_decls,
    calls,
    expose_arena,
    arena="static",
    version=None,
    labels=None,
    params_types=None,
    loaders=None,
) -> str:
    name, NAME = model.name, _macro_name(model)
    g = model.graph
    version = version or runtime_version()
    base = arena_base(model, arena)
    includes = [f'#include "{name}.h"', '#include "ec_common.h"'] + [f'#include "{u}.h"' for u in units]
    if arena == "shared":
        includes.append(f'#include "{SHARED_ARENA_NAME}.h"')
    guard = f"{name}_arena_ptr == (uint8_t *)0" if arena == "user" else ""

    def table(kind: str, indices: list[int], const: bool) -> list[str]:
        q = "const " if const else ""
        fn = f"{q}void *{name}_{kind}(int index)"
        body = [fn + " {"]
        if guard:
            body.append(f"    if ({guard}) {{\n        return (void *)0;\n    }}")
        body.append("    switch (index) {")
        for i, t in enumerate(indices):
            body.append(f"    case {i}: return ({q}void *)({tensor_address(model, t, arena)});")
        body += ["    default: return (void *)0; /* no <stddef.h> needed for NULL */", "    }", "}", ""]
        return body

    if arena == "static":
        arena_decl = [
            "/* The one arena: every activation tensor and scratch buffer, at offsets planned at",
            " * compile time. A union with int64_t keeps it aligned without compiler extensions; the",
            " * member is never read, which is its point. */",
            "/* cppcheck-suppress unusedStructMember */",
            f"static union {{ uint8_t bytes[{max(model.plan.size, 1)}]; int64_t align; }} {name}_arena "
            "EC_ARENA_SECTION EC_ALIGN(16);",
        ]
    elif arena == "shared":
        arena_decl = [
            "/* The arena is ec_shared_arena, shared with the other models compiled together: it must",
            " * hold this model's. */",
            f"#if EC_SHARED_ARENA_SIZE < {NAME}_ARENA_SIZE",
            f'#error "ec_shared_arena.h is smaller than {name} needs: compile the models sharing it together"',
            "#endif",
        ]
    else:
        arena_decl = [
            f"/* The arena the user gave {name}_init; NULL until then. */",
            f"static uint8_t *{name}_arena_ptr;",
            "",
            f"int {name}_init(void *arena) {{",
            "    /* Converting a pointer to uintptr_t to test its alignment is what every target's",
            "     * compiler defines as the address. */",
            f"    if (arena == (void *)0 || (uintptr_t)arena % {NAME}_ARENA_ALIGNMENT != 0u) {{",
            "        return -1;",
            "    }",
            f"    {name}_arena_ptr = (uint8_t *)arena;",
            "    return 0;",
            "}",
        ]
    io_decls = []
    for j, b in enumerate(model.io_blocks):
        what = ", ".join(f"'{comment_text(g.tensors[t].name)}'" for t in b.tensors[:3])
        io_decls.append(f"/* {what}: a model input or output, kept outside the arena. */")
        io_decls.append("/* cppcheck-suppress unusedStructMember */")
        io_decls.append(
            f"static union {{ uint8_t bytes[{_io_block_bytes(b, model)}]; int64_t align; }} {name}_io{j} EC_ALIGN(16);"
        )
    params_ram: list[str] = []
    if params_types:
        members = " ".join(f"{t} m{j};" for j, t in enumerate(params_types))
        params_ram = [
            "#if defined(EC_CONSTANTS_IN_FLASH)",
            "/* The params structs are in flash (ec_common.h): each op's is copied here before its kernel",
            " * runs, by its loader below. */",
            "/* cppcheck-suppress unusedStructMember */",
            f"static union {{ {members} }} {name}_params;",
            *(line for loader in loaders or () for line in loader),
            f"#define {NAME}_OP_PARAMS(op) (*{name}_load_op##op())",
            "#else",
            f"#define {NAME}_OP_PARAMS(op) {name}_op##op",
            "#endif",
            "",
        ]
    label_decls = []
    if labels is not None:
        items = ",\n    ".join(_c_string(lbl) for lbl in labels) or "0"
        label_decls = [f"const char *const {name}_labels[{NAME}_NUM_LABELS] = {{\n    {items}\n}};", ""]
    lines = [
        f"/* {name}.c: generated by edgeconv {__version__}; do not edit.",
        f" * model sha256: {model.model_sha256 or 'unknown'}",
        f" * {len(model.steps)} kernels, {model.macs} MACs, arena {model.plan.size} bytes",
        f" * (lower bound {model.plan.lower_bound}), constants {pool.bytes} bytes.",
        " */",
        "/* The runtime this file was generated with; ec_common.h checks it (see there). */",
        f"#define EC_MODEL_RUNTIME_VERSION_ID {version.ident}",
        *includes,
        "",
        f"#if !defined(EC_RUNTIME_VERSION_ID) || EC_RUNTIME_VERSION_ID != {version.ident}",
        f'#error "{name}.c was generated for edgeconv runtime {version.text}, but its ec_common.h is another '
        'version (EC_RUNTIME_VERSION): build it with the runtime files edgeconv wrote with it"',
        "#endif",
        "",
        *arena_decl,
        *io_decls,
        "",
        *label_decls,
        *pool.decls,
        *params_decls,
        *params_ram,
        *table("input", g.inputs, False),
        *table("output", g.outputs, True),
        f"int {name}_invoke(void) {{",
        *([f"    if ({guard}) {{", "        return -1;", "    }"] if guard else []),
        *calls,
        "    return 0;",
        "}",
        "",
    ]
    if expose_arena:
        lines += [f"const uint8_t *{name}_arena_base(void) {{ return {base}; }}", ""]
    return "\n".join(lines)


def emit_float_helpers(model: CompiledModel, arena: str = "static") -> dict[str, str]:
    """<name>_float.h/.c: <name>_quantize_input(index, const float *) and
    <name>_dequantize_output(index, float *), through the runtime's QUANTIZE and DEQUANTIZE
    kernels (TFLite's rounding: round(x / scale) half away from zero, plus the zero point,
    clamped; scale * (q - zero point) in float32). A separate file, so that a build that only
    feeds integers has no float at all."""
    name, NAME = model.name, _macro_name(model)
    g = model.graph
    structs = kernel_structs(runtime_dir())
    funcs = {n: (ELEMENT_TYPES[n].suffix, ELEMENT_TYPES[n].ctype) for n in ("int8", "uint8", "int16")}
    h = c_header(
        [
            f"/* {name}_float.h: generated by edgeconv {__version__}; do not edit.",
            " * Float helpers for the model's inputs and outputs, apart from the integer model so that an",
            f" * integer-only build need not compile {name}_float.c (the only file here with float).",
            " */",
        ],
        f"{NAME}_FLOAT_H",
        f'"{name}.h"',
        [
            f"/* Quantize {NAME}_INPUT<index>_SIZE real values into input `index`, as TFLite's QUANTIZE",
            " * does: round(x / SCALE) (half away from zero) + ZERO_POINT, clamped to the type. A float32",
            " * input is copied. Returns 0, or -1 if `index` is out of range (or the input has no such",
            " * conversion). */",
            f"int {name}_quantize_input(int index, const float *values);",
            f"/* Output `index` as {NAME}_OUTPUT<index>_SIZE real values, as TFLite's DEQUANTIZE does:",
            " * SCALE * (q - ZERO_POINT) in float32. Returns 0, or -1 as above. */",
            f"int {name}_dequantize_output(int index, float *values);",
        ],
    )

    def cases(kind: str, indices: list[int]) -> list[str]:
        body = []
        for i, t in enumerate(indices):
            tensor = g.tensors[t]
            ptr = f"{name}_{'input' if kind == 'q' else 'output'}({i})"
            body.append(f"    case {i}: {{")
            if tensor.dtype == "float32":
                src, dst = ("values", "(float *)p") if kind == "q" else ("(const float *)p", "values")
                body += [
                    f"        {'void' if kind == 'q' else 'const void'} *p = {ptr};",
                    "        int32_t k;",
                    "        if (p == (void *)0) {",
                    "            return -1;",
                    "        }",
                    f"        for (k = 0; k < {tensor.size}; ++k) {{",
                    f"            ({dst})[k] = ({src})[k];",
                    "        }",
                    "        return 0;",
                    "    }",
                ]
            elif tensor.dtype in funcs and tensor.quant is not None:
                sfx, ctype = funcs[tensor.dtype]
                # the QUANTIZE / DEQUANTIZE kernels' params, checked against their C declaration
                params_type = "ec_quantize_params_t" if kind == "q" else "ec_dequantize_params_t"
                init = params_initializer(
                    structs,
                    params_type,
                    {"size": tensor.size, "scale": float(tensor.quant.s), "zero_point": tensor.quant.zp},
                    f"the float helper of {'input' if kind == 'q' else 'output'} {i}",
                )
                decl = [
                    f"        static const {params_type} params = {{",
                    *("        " + line for line in init.lines),
                    "        };",
                ]
                if kind == "q":
                    body += [
                        *decl,
                        f"        void *p = {ptr};",
                        "        if (p == (void *)0) {",
                        "            return -1;",
                        "        }",
                        f"        ec_quantize_f32_{sfx}(&params, values, ({ctype} *)p);",
                    ]
                else:
                    body += [
                        *decl,
                        f"        const void *p = {ptr};",
                        "        if (p == (void *)0) {",
                        "            return -1;",
                        "        }",
                        f"        ec_dequantize_{sfx}_f32(&params, (const {ctype} *)p, values);",
                    ]
                body += ["        return 0;", "    }"]
            else:
                body += ["        return -1; /* no real-valued view of this type */", "    }"]
        return body

    c = [
        f"/* {name}_float.c: generated by edgeconv {__version__}; do not edit.",
        f" * model sha256: {model.model_sha256 or 'unknown'}",
        " */",
        f'#include "{name}_float.h"',
        '#include "ec_common.h"',
        '#include "ec_quantize.h"',
        '#include "ec_dequantize.h"',
        "",
        f"int {name}_quantize_input(int index, const float *values) {{",
        "    switch (index) {",
        *cases("q", g.inputs),
        "    default: return -1;",
        "    }",
        "}",
        "",
        f"int {name}_dequantize_output(int index, float *values) {{",
        "    switch (index) {",
        *cases("d", g.outputs),
        "    default: return -1;",
        "    }",
        "}",
        "",
    ]
    return {f"{name}_float.h": h, f"{name}_float.c": "\n".join(c)}
