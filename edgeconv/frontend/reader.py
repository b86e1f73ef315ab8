"""Reader: .tflite flatbuffer -> Graph, through the generated schema classes of `tflite`.

Only structure is read and checked here; what an op means is the business of the passes and
lowerings. Every problem is raised as ModelError naming the tensor, op or buffer involved.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import tflite
from ai_edge_litert import schema_py_generated as litert_schema

from edgeconv.frontend.dtypes import ELEMENT_TYPES
from edgeconv.frontend.ir import Graph, ModelError, Op, Quant, Tensor

_TENSOR_TYPES = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
_BUILTIN_OPS = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
_OPTION_TYPES = {v: k for k, v in vars(tflite.BuiltinOptions).items() if not k.startswith("_")}
_OPTION2_TYPES = {v: k for k, v in vars(tflite.BuiltinOptions2).items() if not k.startswith("_")}
_GETTER_SKIP = re.compile(r"^(Init|GetRootAs.*|.*BufferHasIdentifier|.*AsNumpy|.*IsNone|.*Length)$")

SCHEMA_VERSION = 3  # TFLITE_SCHEMA_VERSION
MAX_TENSOR_ELEMENTS = 1 << 28  # 256 Mi elements: far beyond any microcontroller model


def zero_point_range(dtype: str) -> tuple[int, int]:
    """The zero points a tensor of this type may have: its own value range for 8- and 16-bit
    integers (a zero point is a value of the type), int32's otherwise (the kernels hold every
    zero point in an int32_t). Per-op rules that are stricter (TFLite's zero point 0 for
    int16 activations and for weights) belong to the ops."""
    if dtype in ("int8", "uint8", "int16"):
        t = ELEMENT_TYPES[dtype]
        return int(t.min), int(t.max)
    return -(1 << 31), (1 << 31) - 1


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _read_options(table: Any, type_code: int, names: dict[int, str], module: Any) -> dict[str, Any]:
    """Decode a BuiltinOptions union member into a plain dict (snake_case keys)."""
    if table is None or type_code == 0:
        return {}
    cls_name = names.get(type_code)
    cls = getattr(module, cls_name, None) if cls_name else None
    if cls is None:
        return {}
    opts = cls()
    opts.Init(table.Bytes, table.Pos)
    result: dict[str, Any] = {}
    for attr in dir(cls):
        if attr.startswith("_") or _GETTER_SKIP.match(attr) or not attr[0].isupper():
            continue
        getter = getattr(opts, attr)
        length = getattr(opts, attr + "Length", None)
        if length is not None:  # a vector field
            as_np = getattr(opts, attr + "AsNumpy", None)
            value = as_np() if as_np else [getter(i) for i in range(length())]
            result[_snake(attr)] = [] if isinstance(value, int) else list(np.asarray(value).tolist())
            continue
        try:
            result[_snake(attr)] = getter()
        except TypeError:  # a getter that needs an index we do not handle
            continue
    return result


def _decode_name(raw: bytes | None) -> str:
    if raw is None:
        return ""
    return raw.decode("utf-8", errors="replace")


def read_tflite_bytes(data: bytes, name: str = "model") -> Graph:
    if len(data) < 8:
        raise ModelError(f"{name}: file too short to be a .tflite model ({len(data)} bytes)")
    if data[4:8] != b"TFL3":
        raise ModelError(f"{name}: not a .tflite model (file identifier {data[4:8]!r}, expected b'TFL3')")
    at = ["the model header"]
    try:
        return _read_model(data, name, at)
    except ModelError:
        raise
    except Exception:  # the flatbuffer accessors raise anything on corrupt offsets
        # Not the exception's text: it names Python internals, not the user's file.
        raise ModelError(
            f"{name}: corrupt .tflite flatbuffer: {at[0]} points outside the file or holds invalid offsets"
        ) from None


def _read_model(data: bytes, name: str, at: list[str]) -> Graph:
    """`at[0]` names what is being read, for the error message if the bytes are corrupt."""
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.Version() != SCHEMA_VERSION:
        # TFLite's and TFLite Micro's interpreters both refuse any other schema version.
        raise ModelError(
            f"{name}: the model has schema version {model.Version()}; only version "
            f"{SCHEMA_VERSION} (the .tflite format TFLite and TFLite Micro read) is supported"
        )
    at[0] = "buffer 0"
    if model.BuffersLength() > 0 and _buffer_bytes(model.Buffers(0)) > 0:
        # The format reserves buffer 0 as the empty buffer every activation tensor points at;
        # data there would turn every such tensor into a constant.
        raise ModelError(
            f"{name}: buffer 0 holds {_buffer_bytes(model.Buffers(0))} bytes; the .tflite "
            "format reserves buffer 0 as the empty buffer"
        )
    if model.SubgraphsLength() < 1:
        raise ModelError(f"{name}: the model has no subgraph")
    if model.SubgraphsLength() > 1:
        raise ModelError(
            f"{name}: the model has {model.SubgraphsLength()} subgraphs; only single-subgraph "
            "models (no control flow) are supported"
        )
    at[0] = "subgraph 0"
    sg = model.Subgraphs(0)

    opcodes: list[str] = []
    # The `tflite` package's BuiltinCode() answers deprecated_builtin_code for codes below 127,
    # whatever builtin_code says; TFLite resolves an op as the larger of the two raw fields,
    # so those are read through LiteRT's generated schema, which returns them as stored.
    raw_codes = litert_schema.Model.GetRootAs(data, 0)
    for i in range(model.OperatorCodesLength()):
        at[0] = f"operator code {i}"
        oc = model.OperatorCodes(i)
        raw = raw_codes.OperatorCodes(i)
        code = max(raw.BuiltinCode(), raw.DeprecatedBuiltinCode())
        if code == tflite.BuiltinOperator.CUSTOM:
            opcodes.append("CUSTOM:" + _decode_name(oc.CustomCode()))
        else:
            opcodes.append(_BUILTIN_OPS.get(code, f"BUILTIN_{code}"))

    n_buffers = model.BuffersLength()
    tensors: dict[int, Tensor] = {}
    # A shape stored for a tensor an op writes is a hint that shape inference replaces (TFLite
    # resizes every op output in Prepare); its problems count only for the other tensors.
    shape_problems: dict[int, str] = {}
    signatures: dict[int, list[int]] = {}  # shape_signature where it has a dynamic (-1) dimension
    for ti in range(sg.TensorsLength()):
        at[0] = f"tensor {ti}"
        t = sg.Tensors(ti)
        tname = _decode_name(t.Name())
        where = f"tensor {ti} '{tname}'"
        type_name = _TENSOR_TYPES.get(t.Type(), f"type{t.Type()}")
        dtype = type_name.lower()
        shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
        n_elements = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if any(d < 0 for d in shape):
            shape_problems[ti] = f"{name}: {where} has a negative dimension in shape {list(shape)}"
        elif any(d == 0 for d in shape):
            shape_problems[ti] = f"{name}: {where} is zero-sized (shape {list(shape)})"
        elif n_elements > MAX_TENSOR_ELEMENTS:
            shape_problems[ti] = f"{name}: {where} has an absurd shape {list(shape)} ({n_elements} elements)"
        if t.ShapeSignatureLength() and any(int(d) < 0 for d in t.ShapeSignatureAsNumpy()):
            signatures[ti] = [int(d) for d in t.ShapeSignatureAsNumpy()]
        if t.Sparsity() is not None:
            raise ModelError(
                f"{name}: {where} is sparse (it has sparsity parameters); only dense tensors "
                "are supported (TFLite Micro has no sparse kernels)"
            )
        if (
            ti in shape_problems
            and t.Buffer() > 0
            and t.Buffer() < n_buffers
            and _buffer_bytes(model.Buffers(t.Buffer())) > 0
        ):
            raise ModelError(shape_problems[ti])  # a constant's shape sizes its data

        quant = None
        q = t.Quantization()
        if q is not None and q.ScaleLength() > 0:
            scales = tuple(float(s) for s in q.ScaleAsNumpy())
            zps = tuple(int(z) for z in q.ZeroPointAsNumpy()) if q.ZeroPointLength() else (0,) * len(scales)
            if len(zps) != len(scales):
                raise ModelError(f"{name}: {where} has {len(scales)} quantization scales but {len(zps)} zero points")
            axis = int(q.QuantizedDimension())
            if len(scales) > 1:
                if axis >= len(shape) and len(shape) == 1 and shape[0] == len(scales):
                    # TFLite Micro ignores quantized_dimension on 1-D tensors (person_detect's
                    # biases say 3); the only axis a 1-D tensor has is 0.
                    axis = 0
                if axis >= max(len(shape), 1):
                    raise ModelError(
                        f"{name}: {where} quantized_dimension {axis} is out of range for shape {list(shape)}"
                    )
                if shape[axis] != len(scales):
                    raise ModelError(
                        f"{name}: {where} has {len(scales)} per-channel scales but dimension {axis} is {shape[axis]}"
                    )
            if not all(np.isfinite(s) and s > 0 for s in scales):
                raise ModelError(f"{name}: {where} has a quantization scale <= 0 or not finite")
            zp_lo, zp_hi = zero_point_range(dtype)
            bad_zp = [z for z in zps if not zp_lo <= z <= zp_hi]
            if bad_zp:
                raise ModelError(
                    f"{name}: {where} has zero point {bad_zp[0]}, outside the range "
                    f"[{zp_lo}, {zp_hi}] of its type {dtype.upper()}"
                )
            quant = Quant(scales, zps, axis)

        const = None
        buf_index = int(t.Buffer())
        if buf_index >= n_buffers:
            raise ModelError(f"{name}: {where} refers to buffer {buf_index}, but the model has {n_buffers}")
        if buf_index > 0:
            const = _read_buffer(model, data, buf_index, dtype, shape, where, name)
        if t.IsVariable() and const is not None:
            # A variable tensor is state the interpreter owns and resets; one with data in the
            # file is neither a constant nor an activation.
            raise ModelError(f"{name}: {where} is marked is_variable but holds constant data (buffer {buf_index})")
        tensors[ti] = Tensor(ti, tname, shape, dtype, quant, const, bool(t.IsVariable()))

    n_tensors = len(tensors)

    def check_index(i: int, what: str) -> int:
        if i < -1 or i >= n_tensors:
            raise ModelError(f"{name}: {what} refers to tensor {i}, but the model has {n_tensors} tensors")
        return i

    ops: list[Op] = []
    for oi in range(sg.OperatorsLength()):
        at[0] = f"op {oi}"
        o = sg.Operators(oi)
        oc_index = o.OpcodeIndex()
        if oc_index >= len(opcodes):
            raise ModelError(f"{name}: op {oi} uses opcode {oc_index}, but the model has {len(opcodes)}")
        opcode = opcodes[oc_index]
        inputs = [
            check_index(int(i), f"op {oi} {opcode} input") for i in (o.InputsAsNumpy() if o.InputsLength() else [])
        ]
        outputs = [
            check_index(int(i), f"op {oi} {opcode} output") for i in (o.OutputsAsNumpy() if o.OutputsLength() else [])
        ]
        if any(i < 0 for i in outputs):
            raise ModelError(f"{name}: op {oi} {opcode} has an omitted output")
        options = _read_options(o.BuiltinOptions(), o.BuiltinOptionsType(), _OPTION_TYPES, tflite)
        options.update(_read_options(o.BuiltinOptions2(), o.BuiltinOptions2Type(), _OPTION2_TYPES, tflite))
        options_type = ""
        if o.BuiltinOptionsType() and o.BuiltinOptions() is not None:
            options_type = _OPTION_TYPES.get(o.BuiltinOptionsType(), f"type {o.BuiltinOptionsType()}")
        ops.append(Op(oi, opcode, inputs, outputs, options, options_type))

    at[0] = "the subgraph's inputs and outputs"
    g_inputs = [check_index(int(i), "subgraph input") for i in (sg.InputsAsNumpy() if sg.InputsLength() else [])]
    g_outputs = [check_index(int(i), "subgraph output") for i in (sg.OutputsAsNumpy() if sg.OutputsLength() else [])]
    if not g_inputs or not g_outputs:
        raise ModelError(f"{name}: the model declares no inputs or no outputs")
    if any(i < 0 for i in g_inputs + g_outputs):
        raise ModelError(f"{name}: a model input or output is an omitted tensor (-1)")
    for i in g_inputs:
        if tensors[i].data is not None:
            raise ModelError(
                f"{name}: model input {tensors[i].describe()} is a constant (it has data in the "
                "file); the compiled model would ignore what is written into it"
            )
        if tensors[i].is_variable:
            raise ModelError(f"{name}: model input {tensors[i].describe()} is marked is_variable")
        writer = next((op for op in ops if i in op.outputs), None)
        if writer is not None:
            raise ModelError(
                f"{name}: model input {tensors[i].describe()} is written by op {writer.index} "
                f"{writer.opcode}; the compiled model would overwrite what is written into it"
            )
    written = {t for op in ops for t in op.outputs}
    for ti, problem in shape_problems.items():
        if ti not in written:
            raise ModelError(problem)
    for i in g_inputs:
        sig = signatures.get(i)
        # A dynamic batch runs at its stored size (1), as in TFLite; a dynamic height, width or
        # channel count has no size to compile for.
        if sig is not None and any(d < 0 for d in sig[1:]):
            raise ModelError(
                f"{name}: model input {tensors[i].describe()} has a dynamic shape {sig}; re-export the "
                "model with a fixed input shape (only the batch may be dynamic)"
            )
    desc = _decode_name(model.Description())
    return Graph(name, tensors, ops, g_inputs, g_outputs, desc)


def _buffer_bytes(buf: Any) -> int:
    """How many bytes a Buffer holds, inside the flatbuffer or after it (large models)."""
    offset = int(buf.Offset()) if hasattr(buf, "Offset") else 0
    if offset > 1:
        return int(buf.Size())
    return int(buf.DataLength())


def _read_buffer(model: Any, data: bytes, index: int, dtype: str, shape: tuple[int, ...], where: str, name: str):
    buf = model.Buffers(index)
    offset = int(buf.Offset()) if hasattr(buf, "Offset") else 0
    if offset > 1:  # large models keep buffers after the flatbuffer
        size = int(buf.Size())
        if offset + size > len(data):
            raise ModelError(f"{name}: {where} buffer {index} lies outside the file")
        raw = data[offset : offset + size]
    elif buf.DataLength() == 0:
        return None  # an empty buffer: the tensor is not constant
    else:
        raw = buf.DataAsNumpy().tobytes()
    if dtype not in ELEMENT_TYPES:
        raise ModelError(f"{name}: {where} has unsupported type {dtype.upper()}")
    np_dtype = np.dtype(ELEMENT_TYPES[dtype].numpy)
    n = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if len(raw) != n * np_dtype.itemsize:
        raise ModelError(
            f"{name}: {where} buffer {index} holds {len(raw)} bytes, but shape {list(shape)} of "
            f"{dtype.upper()} needs {n * np_dtype.itemsize}"
        )
    return np.frombuffer(raw, dtype=np_dtype).reshape(shape).copy()
