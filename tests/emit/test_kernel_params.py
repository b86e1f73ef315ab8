"""Kernel params have one declaration, the C struct in c_runtime/ec_*.h (edgeconv/emit/kernel_params.py):
the emitter holds every lowering's params dict against it, so a field renamed, dropped or added on either
side, or a value that does not fit the field, stops the compile of every model using that kernel.

- every ec_*_params_t the headers declare is reached: one-op models (assembled with TFLite's flatbuffer
  object API, tests/mutants.py, no TensorFlow conversion) go through the emitter, which checks each one;
- mutations of a header (in a copy of c_runtime) and of a lowering's dict are refused, naming the field;
- the parsed structs agree with the C compiler's view of them (offsetof, sizeof and each field's type).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import replace

import numpy as np
import pytest

import mutants
from edgeconv.emit import emitter
from edgeconv.emit.emitter import emit, runtime_dir
from edgeconv.emit.kernel_params import KernelParamsError, kernel_structs, parse_headers
from edgeconv.lowering.compiler import compile_bytes
from edgeconv.lowering.ops.base import CArray
from mutants import SAME, VALID, Net, schema

# ---------------------------------------------------------------------------------------------
# One-op models for the params structs tests/mutants.py's bases do not reach


class OpNet(Net):
    """mutants.Net for any op: options named by their BuiltinOptions member (None: none)."""

    def op_with(self, opname: str, member: str | None, inputs: list[int], outputs: list[int], **options) -> None:
        saved = mutants.OPTIONS_OF.get(opname, "absent")
        mutants.OPTIONS_OF[opname] = member
        try:
            self.op(opname, inputs, outputs, **options)
        finally:
            if saved == "absent":
                del mutants.OPTIONS_OF[opname]
            else:
                mutants.OPTIONS_OF[opname] = saved


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _unary(opname: str, dtype: str, in_q, out_q, member: str | None = None, shape=(1, 2, 5), **options):
    def build() -> bytes:
        n = OpNet()
        x = n.tensor("input", list(shape), dtype, scale=in_q[0], zp=in_q[1])
        y = n.tensor("output", list(shape), dtype, scale=out_q[0], zp=out_q[1])
        n.op_with(opname, member, [x], [y], **options)
        return n.finish([x], [y])

    return build


def _binary(opname: str, dtype: str = "int8", member: str | None = None, out_scale: float = 0.1, **options):
    def build() -> bytes:
        n = OpNet()
        quant = dtype != "int32"
        a = n.tensor("a", [1, 3, 4], dtype, scale=0.05 if quant else None, zp=3 if quant else 0)
        b = n.tensor("b", [1, 1, 4], dtype, scale=0.04 if quant else None, zp=-2 if quant else 0)
        y = n.tensor("output", [1, 3, 4], dtype, scale=out_scale if quant else None, zp=1 if quant else 0)
        n.op_with(opname, member, [a, b], [y], **options)
        return n.finish([a, b], [y])

    return build


# Like _depthwise_m1 below, mutants.py's _depthwise and test_op_oracle.py's conv, but 16x8 (int16 activations,
# int64 bias), one op per kind: kept apart, the tensors' dtypes and shapes differ
def _mac_16x8(kind: str):
    """CONV_2D, DEPTHWISE_CONV_2D or FULLY_CONNECTED with int16 activations, int8 weights, int64 bias."""

    def build() -> bytes:
        rng = _rng(5)
        n = OpNet()
        if kind == "fc":
            x = n.tensor("input", [1, 8], "int16", scale=0.001, zp=0)
            w = n.tensor(
                "weights", [3, 8], "int8", scale=[0.02, 0.03, 0.01], zp=[0, 0, 0], data=rng.integers(-127, 128, (3, 8))
            )
            b = n.tensor("bias", [3], "int64", scale=[2e-5, 3e-5, 1e-5], zp=[0, 0, 0], data=rng.integers(-900, 900, 3))
            y = n.tensor("output", [1, 3], "int16", scale=0.002, zp=0)
            n.op("FULLY_CONNECTED", [x, w, b], [y], fusedActivationFunction=0)
        else:
            x = n.tensor("input", [1, 5, 5, 2], "int16", scale=0.001, zp=0)
            if kind == "conv":
                w = n.tensor(
                    "weights",
                    [3, 3, 3, 2],
                    "int8",
                    scale=[0.02, 0.03, 0.01],
                    zp=[0, 0, 0],
                    data=rng.integers(-127, 128, (3, 3, 3, 2)),
                )
                b = n.tensor(
                    "bias", [3], "int64", scale=[2e-5, 3e-5, 1e-5], zp=[0, 0, 0], data=rng.integers(-900, 900, 3)
                )
                y = n.tensor("output", [1, 5, 5, 3], "int16", scale=0.004, zp=0)
                n.op("CONV_2D", [x, w, b], [y], padding=SAME, strideH=1, strideW=1, fusedActivationFunction=0)
            else:
                w = n.tensor(
                    "weights",
                    [1, 3, 3, 4],
                    "int8",
                    scale=[0.02, 0.03, 0.01, 0.02],
                    zp=[0, 0, 0, 0],
                    data=rng.integers(-127, 128, (1, 3, 3, 4)),
                    axis=3,
                )
                b = n.tensor(
                    "bias",
                    [4],
                    "int64",
                    scale=[2e-5, 3e-5, 1e-5, 2e-5],
                    zp=[0, 0, 0, 0],
                    data=rng.integers(-900, 900, 4),
                )
                y = n.tensor("output", [1, 3, 3, 4], "int16", scale=0.004, zp=0)
                n.op(
                    "DEPTHWISE_CONV_2D",
                    [x, w, b],
                    [y],
                    padding=VALID,
                    strideH=1,
                    strideW=1,
                    depthMultiplier=2,
                    fusedActivationFunction=0,
                )
        return n.finish([x], [y])

    return build


# Like mutants.py's conv builders: each hand-built model spells out its own tensors and options so a case reads whole;
# kept apart because shapes, scales, seeds and options differ (merging them would change the models)
def _depthwise_m1() -> bytes:
    """Depth multiplier 1: the depthwise kernel that offers int16 weights."""
    rng = _rng(6)
    n = OpNet()
    x = n.tensor("input", [1, 4, 4, 4], scale=0.05, zp=2)
    ws = np.array([0.02, 0.01, 0.03, 0.015], dtype=np.float32)
    w = n.tensor("weights", [1, 3, 3, 4], scale=ws, zp=[0] * 4, data=rng.integers(-127, 128, (1, 3, 3, 4)), axis=3)
    b = n.tensor("bias", [4], "int32", scale=np.float32(0.05) * ws, zp=[0] * 4, data=rng.integers(-200, 200, 4))
    y = n.tensor("output", [1, 4, 4, 4], scale=0.07, zp=-1)
    n.op(
        "DEPTHWISE_CONV_2D",
        [x, w, b],
        [y],
        padding=SAME,
        strideW=1,
        strideH=1,
        depthMultiplier=1,
        fusedActivationFunction=0,
    )
    return n.finish([x], [y])


# Same shape as lowering/test_ops_reduce.py's one_op (an ARG_MAX net); kept apart: each file builds with its own
# net helper and checks something different (params here, refusals there)
def _arg_max() -> bytes:
    n = OpNet()
    x = n.tensor("input", [1, 4, 5], "int8", scale=0.05, zp=1)
    axis = n.tensor("axis", [1], "int32", data=[2])
    y = n.tensor("output", [1, 4], "int32")
    n.op_with("ARG_MAX", "ArgMaxOptions", [x, axis], [y], outputType=schema().TensorType.INT32)
    return n.finish([x], [y])


def _cast() -> bytes:
    n = OpNet()
    x = n.tensor("input", [2, 3], "int8")
    y = n.tensor("output", [2, 3], "int32")
    n.op_with("CAST", None, [x], [y])
    return n.finish([x], [y])


def _mirror_pad() -> bytes:
    n = OpNet()
    x = n.tensor("input", [1, 3, 3, 2], "int8", scale=0.05, zp=1)
    pads = n.tensor("paddings", [4, 2], "int32", data=[[0, 0], [1, 1], [2, 0], [0, 0]])
    y = n.tensor("output", [1, 5, 5, 2], "int8", scale=0.05, zp=1)
    n.op_with("MIRROR_PAD", "MirrorPadOptions", [x, pads], [y], mode=1)
    return n.finish([x], [y])


def _gather() -> bytes:
    n = OpNet()
    x = n.tensor("params", [4, 3], "int8", scale=0.05, zp=1)
    idx = n.tensor("indices", [2], "int32", data=[3, 1])
    y = n.tensor("output", [2, 3], "int8", scale=0.05, zp=1)
    n.op_with("GATHER", "GatherOptions", [x, idx], [y], axis=0, batchDims=0)
    return n.finish([x], [y])


def _reduce_max() -> bytes:
    n = OpNet()
    x = n.tensor("input", [1, 3, 4], "int8", scale=0.05, zp=1)
    axis = n.tensor("axis", [1], "int32", data=[1])
    y = n.tensor("output", [1, 4], "int8", scale=0.05, zp=1)
    n.op_with("REDUCE_MAX", "ReducerOptions", [x, axis], [y], keepDims=False)
    return n.finish([x], [y])


def _less_select() -> bytes:
    """LESS and SELECT_V2: a bool tensor lives only inside a model."""
    n = OpNet()
    a = n.tensor("a", [1, 3, 4], "int8", scale=0.05, zp=1)
    b = n.tensor("b", [1, 1, 4], "int8", scale=0.05, zp=1)
    c = n.tensor("cond", [1, 3, 4], "bool")
    y = n.tensor("output", [1, 3, 4], "int8", scale=0.05, zp=1)
    n.op_with("LESS", "LessOptions", [a, b], [c])
    n.op_with("SELECT_V2", "SelectV2Options", [c, a, b], [y])
    return n.finish([a, b], [y])


def _split() -> bytes:
    n = OpNet()
    axis = n.tensor("axis", [], "int32", data=2)
    x = n.tensor("input", [1, 3, 4], "int8", scale=0.05, zp=1)
    y0 = n.tensor("out0", [1, 3, 2], "int8", scale=0.05, zp=1)
    y1 = n.tensor("out1", [1, 3, 2], "int8", scale=0.05, zp=1)
    n.op_with("SPLIT", "SplitOptions", [axis, x], [y0, y1], numSplits=2)
    return n.finish([x], [y0, y1])


S15 = 1 / 32768
EXTRA_MODELS = {
    "abs_16": _unary("ABS", "int16", (0.001, 0), (0.002, 0)),  # (int8 ABS and RSQRT are tables: ec_lut)
    "rsqrt_16": _unary("RSQRT", "int16", (0.001, 0), (0.01, 0)),
    "depthwise_m1": _depthwise_m1,
    "arg_max": _arg_max,
    "cast": _cast,
    "less_select": _less_select,
    "conv_16x8": _mac_16x8("conv"),
    "depthwise_16x8": _mac_16x8("depthwise"),
    "fully_connected_16x8": _mac_16x8("fc"),
    "mirror_pad": _mirror_pad,
    "div": _binary("DIV", member="DivOptions", out_scale=0.01, fusedActivationFunction=0),
    "div_int32": _binary("DIV", "int32", member="DivOptions", fusedActivationFunction=0),
    "gather": _gather,
    "l2_normalization": _unary("L2_NORMALIZATION", "int8", (0.05, 3), (1 / 128, 0), "L2NormOptions", shape=(1, 8)),
    "log_softmax": _unary("LOG_SOFTMAX", "int8", (0.05, 3), (16 / 256, 127), "LogSoftmaxOptions", shape=(1, 10)),
    "logistic_16": _unary("LOGISTIC", "int16", (0.001, 0), (S15, 0)),
    "tanh_16": _unary("TANH", "int16", (0.001, 0), (S15, 0)),
    "softmax_16": _unary("SOFTMAX", "int16", (0.001, 0), (S15, 0), "SoftmaxOptions", shape=(1, 10), beta=1.0),
    "elu": _unary("ELU", "int8", (0.05, 3), (0.04, -50)),
    "gelu_16": _unary("GELU", "int16", (0.001, 0), (0.001, 0), "GeluOptions"),
    "reduce_max": _reduce_max,
    "split": _split,
    "squared_difference": _binary("SQUARED_DIFFERENCE", member="SquaredDifferenceOptions"),
}

# the models whose kernels offer another weight form (int16 weights: weights16 set, weights NULL)
WEIGHT_FORM_MODELS = ("conv", "depthwise_m1", "fully_connected")


def _all_models() -> list[tuple[str, bytes, str]]:
    models = {name: mutants.base_bytes(name) for name in mutants.BASES}
    models.update((name, build()) for name, build in EXTRA_MODELS.items())
    return [(name, data, "auto") for name, data in models.items()] + [
        (f"{name}_w16", models[name], "int16") for name in WEIGHT_FORM_MODELS
    ]


def test_every_params_struct_is_emitted_and_checked(monkeypatch):
    checked: dict[str, str] = {}
    real = emitter.check_params

    def spy(struct, params, what):
        checked.setdefault(struct.name, what)
        return real(struct, params, what)

    monkeypatch.setattr(emitter, "check_params", spy)
    for name, data, weights in _all_models():
        model = compile_bytes(data, name=f"m_{name}", weights=weights)
        if weights == "int16":  # the int16 form was taken: weights16 set, weights NULL
            assert any(s.kernel.weight_form == "int16" for s in model.steps), name
        emit(model, float_helpers=True)  # QUANTIZE / DEQUANTIZE params of the float helpers too
    declared = set(kernel_structs(runtime_dir()))
    assert len(declared) >= 50
    assert sorted(declared - set(checked)) == []  # every declared struct is emitted (and checked)
    assert sorted(set(checked) - declared) == []


# ---------------------------------------------------------------------------------------------
# Mutations: each side renamed, dropped, added or given a value that does not fit


def _conv_model():
    return compile_bytes(mutants.base_bytes("conv"), name="m_conv")


def _with_params(model, **changes):
    """The model with its first kernel's params changed (a value None removes the key, unless
    the key is given as `<name>__none`: then the value is None)."""
    step = model.steps[0]
    params = dict(step.kernel.params)
    for key, value in changes.items():
        if key.endswith("__none"):
            params[key[: -len("__none")]] = None
        elif value is None:
            del params[key]
        else:
            params[key] = value
    steps = [replace(step, kernel=replace(step.kernel, params=params)), *model.steps[1:]]
    return replace(model, steps=steps)


def _refused(model, *words: str) -> str:
    with pytest.raises(KernelParamsError) as exc:
        emit(model)
    message = str(exc.value)
    assert isinstance(exc.value, AssertionError)  # a compiler bug, never the user's
    for w in words:
        assert w in message, message
    return message


def test_a_renamed_key_in_a_lowering_is_refused():
    model = _conv_model()
    params = model.steps[0].kernel.params
    renamed = {("out_channels" if k == "out_c" else k): v for k, v in params.items()}
    message = _refused(
        _with_params(model, out_c=None, out_channels=renamed["out_channels"]),
        "op 0 CONV_2D",
        "ec_conv2d_params_t.out_channels",
        "no such field",
        "c_runtime/ec_conv.h",
    )
    assert "out_c" in message  # the struct's fields are listed


def test_a_missing_and_an_extra_key_are_refused():
    model = _conv_model()
    _refused(_with_params(model, act_max=None), "ec_conv2d_params_t.act_max", "not given")
    _refused(_with_params(model, zero_point=0), "ec_conv2d_params_t.zero_point", "no such field")


@pytest.mark.parametrize(
    "field, value, words",
    [
        ("act_min", 1 << 31, ("act_min", "does not fit int32_t")),
        ("act_min", -(1 << 31) - 1, ("act_min", "does not fit int32_t")),
        ("pad_h", 1.5, ("pad_h", "float 1.5 for a int32_t")),
        ("pad_h", np.int64(3), None),  # numpy integers are integers
        ("out_c", [1, 2], ("out_c", "a sequence for a scalar int32_t")),
        ("weights", 7, ("weights", "int for a reference to int8_t")),
        (
            "weights",
            CArray("int16_t", np.zeros(4, np.int16), "weights", program_memory=True),
            ("weights", "an array of int16_t for a reference to int8_t"),
        ),
        ("bias", CArray("int32_t", np.zeros(4, np.int32), "bias"), ("bias", "EC_CREF field takes a program_memory")),
        ("k_h", CArray("int32_t", np.zeros(4, np.int32), "x", program_memory=True), ("k_h", "a constant array for")),
        ("k_h__none", 0, ("k_h", "None for a scalar int32_t")),
    ],
)
def test_a_value_that_does_not_fit_its_field_is_refused(field, value, words):
    model = _with_params(_conv_model(), **{field: value})
    if words is None:
        emit(model)
    else:
        _refused(model, *words)


def test_array_fields_take_exactly_their_length():
    model = compile_bytes(mutants.base_bytes("pad"), name="m_pad")
    step = model.steps[0]
    assert step.kernel.params_type == "ec_pad_params_t"
    short = list(step.kernel.params["left"])[:-1]
    _refused(_with_params(model, left=short), "ec_pad_params_t.left", f"{len(short)} values for int32_t[5]")
    _refused(_with_params(model, left=7), "ec_pad_params_t.left", "int for int32_t[5]")
    _refused(_with_params(model, left=[0, 0, 0, 0, 1 << 40]), "ec_pad_params_t.left", "does not fit int32_t")


def test_an_unknown_params_type_is_refused():
    model = _conv_model()
    step = model.steps[0]
    bad = replace(model, steps=[replace(step, kernel=replace(step.kernel, params_type="ec_conv2d_parms_t"))])
    _refused(bad, "ec_conv2d_parms_t is declared in no c_runtime header")


@pytest.fixture
def runtime_copy(tmp_path, monkeypatch):
    """A copy of c_runtime/ the emitter reads instead (runtime_dir patched); edit it in place."""
    rt = tmp_path / "c_runtime"
    shutil.copytree(runtime_dir(), rt)
    monkeypatch.setattr(emitter, "runtime_dir", lambda: rt)
    return rt


def _edit(path, old: str, new: str) -> None:
    """Replace the one place `old` stands in the file, any run of white space in it matching any
    other (clang-format aligns the comments after a field)."""
    pattern = r"\s+".join(re.escape(word) for word in old.split())
    text, count = re.subn(pattern, lambda _: new, path.read_text(), count=2)
    assert count == 1, old
    path.write_text(text)


def test_a_field_renamed_in_a_header_is_refused(runtime_copy):
    # ec_conv2d_params_t's k_pad (the int16 struct's own stands before another oc_pad comment)
    _edit(
        runtime_copy / "ec_conv.h",
        "int32_t k_pad; /* k_h * k_w * filter_in_c rounded up to a multiple of 4 */\n"
        "    int32_t oc_pad; /* output channels per group",
        "int32_t k_padded; /* renamed */\n    int32_t oc_pad; /* output channels per group",
    )
    assert kernel_structs(runtime_copy)["ec_conv2d_params_t"].field("k_padded") is not None
    _refused(_conv_model(), "ec_conv2d_params_t.k_pad", "no such field", "k_padded")


def test_a_field_added_to_a_header_is_refused(runtime_copy):
    _edit(
        runtime_copy / "ec_pooling.h",
        "int32_t act_min, act_max;\n} ec_pool_params_t;",
        "int32_t act_min, act_max;\n    int32_t ceil_mode;\n} ec_pool_params_t;",
    )
    _refused(compile_bytes(mutants.base_bytes("max_pool"), name="m_pool"), "ec_pool_params_t.ceil_mode", "not given")


def test_a_field_retyped_in_a_header_is_refused(runtime_copy):
    _edit(runtime_copy / "ec_conv.h", "EC_CREF(int32_t) bias; ", "EC_CREF(int64_t) bias; ")
    _refused(_conv_model(), "ec_conv2d_params_t.bias", "an array of int32_t for a reference to int64_t")


def test_the_float_helpers_params_are_checked_too(runtime_copy):
    _edit(runtime_copy / "ec_quantize.h", "int32_t zero_point;", "int32_t zero;")
    model = _conv_model()  # int8 edges: the helpers quantize and dequantize them
    with pytest.raises(KernelParamsError, match=r"the float helper of input 0: ec_quantize_params_t.zero_point"):
        emit(model, float_helpers=True)


def test_headers_it_cannot_read_are_refused():
    """A struct is parsed when first used (a compile reads only its model's): then anything
    but plain scalars, arrays and references of the stdint types and float is refused."""
    unknown = parse_headers({"ec_x.h": "typedef struct {\n    int32_t n;\n    size_t d;\n} ec_x_params_t;\n"})
    assert list(unknown) == ["ec_x_params_t"]
    with pytest.raises(ValueError, match=r"c_runtime/ec_x.h: ec_x_params_t cannot be read"):
        unknown["ec_x_params_t"]
    with pytest.raises(ValueError, match=r"ec_x.h: ec_x_params_t.d: type double is not one of"):
        parse_headers({"ec_x.h": "typedef struct { int32_t n; double d; } ec_x_params_t;"})["ec_x_params_t"]
    with pytest.raises(ValueError, match=r"ec_y_params_t not read"):  # at once: the text is scanned whole
        parse_headers({"ec_x.h": "typedef struct { struct { int32_t a; } in; } ec_y_params_t;\n"})
    with pytest.raises(ValueError, match=r"ec_b.h: ec_x_params_t is also declared in ec_a.h"):
        parse_headers(
            {
                "ec_a.h": "typedef struct { int32_t a; } ec_x_params_t;",
                "ec_b.h": "typedef struct { int32_t a; } ec_x_params_t;",
            }
        )
    s = parse_headers(
        {
            "ec_x.h": "#define EC_X_DIMS 3 /* three */\ntypedef struct {\n"
            "    int32_t a, b[EC_X_DIMS - 1]; /* a comment; } ec_z_params_t; */\n"
            "    EC_CREF(uint16_t) t; // reference\n    const int8_t *p;\n} ec_x_params_t;\n"
        }
    )
    f = s["ec_x_params_t"].fields
    assert [(x.name, x.ctype, x.kind, x.length) for x in f] == [
        ("a", "int32_t", "scalar", None),
        ("b", "int32_t", "array", 2),
        ("t", "uint16_t", "cref", None),
        ("p", "int8_t", "pointer", None),
    ]
    assert f[3].const


# ---------------------------------------------------------------------------------------------
# The parsed table against the C compiler's own view of the structs


def _need_cc() -> str:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail("cc missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip("no C compiler")
    return cc


def test_parsed_structs_match_the_c_compiler(tmp_path):
    """Every struct's fields, in order, with their types, offsets and the struct's size, as the
    host C compiler lays them out: compile-time assertions only (nothing runs)."""
    cc = _need_cc()
    rt = runtime_dir()
    structs = kernel_structs(runtime_dir())
    headers = sorted({s.header for s in structs.values()})
    lines = [
        "#include <stddef.h>",
        "#include <stdint.h>",
        *(f'#include "{h}"' for h in headers),
        "#define SAME_TYPE(T, f, U) _Static_assert(__builtin_types_compatible_p(__typeof__(((T *)0)->f), U), "
        '#T "." #f " is not " #U)',
        '#define AT(T, f, n) _Static_assert(offsetof(T, f) == (n), #T "." #f " is not at " #n)',
        '#define SIZE(T, n) _Static_assert(sizeof(T) == (n), "sizeof " #T " is not " #n)',
    ]
    pointer_bytes = np.dtype(np.intp).itemsize  # the host's (an EC_CREF is a pointer there)
    for s in structs.values():
        offsets, size = s.layout(pointer_bytes)
        for f in s.fields:
            if f.is_reference:
                ctype = f"const {f.ctype} *" if f.const else f"{f.ctype} *"
            else:
                ctype = f"{f.ctype}[{f.length}]" if f.kind == "array" else f.ctype
            lines += [f"SAME_TYPE({s.name}, {f.name}, {ctype});", f"AT({s.name}, {f.name}, {offsets[f.name]});"]
        lines.append(f"SIZE({s.name}, {size});")
    src = tmp_path / "layout.c"
    src.write_text("\n".join(lines) + "\n")
    proc = subprocess.run([cc, "-std=gnu11", "-fsyntax-only", "-I", str(rt), str(src)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert len(re.findall(r"^SAME_TYPE", src.read_text(), re.M)) == sum(len(s.fields) for s in structs.values())
