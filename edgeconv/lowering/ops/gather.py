"""GATHER (int8 as TFLite Micro; int16 and int32 as TFLite's reference), int32 indices, any
axis and batch_dims, as TFLite Micro's gather.cc.

Indices computed at run time are bounds-checked by the kernel (c_runtime/ec_gather.h): an
index outside the axis gives the output zero point (real 0) instead of TFLite Micro's read
outside its input or TFLite's error. Constant indices (the usual case: a gather of fixed
channels or rows) are checked here, at compile time, and refused if out of range; they reach
the same kernel as a table in flash, so the copy plan is fixed at compile time.
No requantization: the values are copied (TFLite requires nothing of the quantization and
neither reference rescales).
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, UnsupportedOpError
from edgeconv.lowering.ops.base import DTYPE_SUFFIX, Kernel, fail, lowering, qrange, require_dtype


@lowering("GATHER")
def lower_gather(graph: Graph, op: Op) -> Kernel:
    x = graph.tensors[op.inputs[0]]
    idx = graph.tensors[op.inputs[1]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, "int8", "int16", "int32")
    require_dtype(graph, op, y, x.dtype)
    require_dtype(graph, op, idx, "int32")
    rank, irank = len(x.shape), len(idx.shape)
    axis = int(op.options.get("axis", 0))
    axis = axis + rank if axis < 0 else axis
    batch_dims = int(op.options.get("batch_dims", 0))
    batch_dims = batch_dims + irank if batch_dims < 0 else batch_dims
    if not 0 <= axis < rank:
        raise fail(graph, op, f"axis {op.options.get('axis', 0)} is out of range for rank {rank}")
    if not (0 <= batch_dims <= axis and batch_dims < rank and batch_dims <= irank):
        raise fail(
            graph,
            op,
            f"batch_dims {op.options.get('batch_dims', 0)} does not fit axis {axis}, input rank "
            f"{rank} and indices rank {irank}",
        )
    if list(x.shape[:batch_dims]) != list(idx.shape[:batch_dims]):
        raise fail(
            graph,
            op,
            f"the first {batch_dims} dimensions of input {list(x.shape)} and indices {list(idx.shape)} differ",
        )
    expected = list(x.shape[:axis]) + list(idx.shape[batch_dims:]) + list(x.shape[axis + 1 :])
    if list(y.shape) != expected:
        raise fail(graph, op, f"output {list(y.shape)} differs from the gathered shape {expected}")
    axis_size = int(x.shape[axis])
    if idx.data is not None:
        values = np.asarray(idx.data).reshape(-1)
        bad = values[(values < 0) | (values >= axis_size)]
        if bad.size:
            raise fail(graph, op, f"index {int(bad[0])} is outside axis {axis} of size {axis_size}")
    fill = 0
    if x.dtype != "int32" and y.quant is not None:
        fill = y.quant.zp
        lo, hi = qrange(y.dtype)
        if not lo <= fill <= hi:
            raise UnsupportedOpError(f"{op.describe(graph)}: output zero point {fill} is outside {y.dtype}")
    return Kernel(
        func=f"ec_gather_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_gather",
        params_type="ec_gather_params_t",
        params=dict(
            batch=int(np.prod(x.shape[:batch_dims], dtype=np.int64)),
            outer=int(np.prod(x.shape[batch_dims:axis], dtype=np.int64)),
            coords=int(np.prod(idx.shape[batch_dims:], dtype=np.int64)),
            axis_size=axis_size,
            inner=int(np.prod(x.shape[axis + 1 :], dtype=np.int64)),
            fill=fill,
        ),
        inputs=[x.index, idx.index],
        outputs=[y.index],
        summary=f"axis {axis}"
        + (f" batch_dims {batch_dims}" if batch_dims else "")
        + (" constant indices" if idx.data is not None else ""),
    )
