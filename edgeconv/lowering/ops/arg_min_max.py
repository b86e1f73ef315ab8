"""ARG_MAX and ARG_MIN along one constant axis: the index of the first largest (smallest) raw
value, as reference_ops::ArgMinMax with std::greater / std::less (a later equal value never
wins, so ties give the first index).

TFLite Micro (arg_min_max.cc) runs int8 input with an INT32 axis and an INT32 output only;
TFLite's reference kernels also write INT64 indices and read an INT64 axis (the oracle for
those). Neither runs int16 input, so it is refused. TFLite Micro types the output from the
tensor, TFLite's reference from ArgMaxOptions.output_type: INT32 indices follow TFLite Micro
whatever the option says; INT64 indices need the option to say INT64. The walk is outer x axis
x inner, fixed at compile time.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import DTYPE_SUFFIX, Kernel, const_input, fail, lowering, require_dtype

# tflite.TensorType codes of the output_type option
TENSOR_TYPE_CODES = {"int32": 2, "int64": 4}


@lowering("ARG_MAX", "ARG_MIN")
def lower_arg_min_max(graph: Graph, op: Op) -> Kernel:
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, "int8")
    require_dtype(graph, op, y, "int32", "int64")
    output_type = op.options.get("output_type")
    if y.dtype == "int64" and output_type != TENSOR_TYPE_CODES["int64"]:
        # Only TFLite's reference runs INT64 indices, and it types the output from the option.
        raise fail(
            graph,
            op,
            f"its options' output_type ({output_type}) does not name the output's type "
            "INT64; TFLite's reference would write another type",
        )
    axis_data = np.asarray(const_input(graph, op, 1, "axis")).reshape(-1)
    if axis_data.size != 1:
        raise fail(graph, op, f"axis has {axis_data.size} elements; TFLite requires exactly 1")
    rank = len(x.shape)
    if rank < 1:
        raise fail(graph, op, "input is a scalar; TFLite requires at least 1 dimension")
    axis = int(axis_data[0])
    axis = axis + rank if axis < 0 else axis
    if not 0 <= axis < rank:
        raise fail(graph, op, f"axis {int(axis_data[0])} is out of range for rank {rank}")
    dims = [int(d) for d in x.shape]
    if dims[axis] == 0:
        raise fail(graph, op, f"axis {axis} is empty; TFLite would read its first element")
    expected = dims[:axis] + dims[axis + 1 :]
    if list(y.shape) != expected:
        raise fail(graph, op, f"output shape {list(y.shape)} is not {expected} (the input {dims} without axis {axis})")
    outer = int(np.prod(dims[:axis], dtype=np.int64))
    inner = int(np.prod(dims[axis + 1 :], dtype=np.int64))
    which = "max" if op.opcode == "ARG_MAX" else "min"
    return Kernel(
        func=f"ec_arg_{which}_{DTYPE_SUFFIX[x.dtype]}_{DTYPE_SUFFIX[y.dtype]}",
        unit="ec_arg_min_max",
        params_type="ec_arg_min_max_params_t",
        params=dict(outer=outer, axis_size=dims[axis], inner=inner),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"arg{which} axis {axis} of {dims}",
    )
