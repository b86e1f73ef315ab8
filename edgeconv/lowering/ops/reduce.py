"""REDUCE_MAX and REDUCE_MIN over any set of axes, keep_dims or not (Keras' GlobalMaxPooling).

TFLite Micro (reduce_common.cc EvalMinMaxHelper -> reference_ops::ReduceGeneric) runs int8
only, and only when the input and output share scale (compared as doubles) and zero point;
it then takes the max (min) of the raw values, starting from the type's lowest (highest)
value, which an output over an empty window keeps. TFLite Micro refuses int16; TFLite's
reference kernels (reduce.cc EvalType) run it with the same rule plus zero points 0
(PrepareSimple), so int16 follows them. The geometry is MEAN's (ops/mean.reduction).
"""

from __future__ import annotations

from edgeconv.frontend.ir import Graph, Op, Tensor
from edgeconv.lowering.ops.base import DTYPE_SUFFIX, Kernel, fail, lowering, require_dtype
from edgeconv.lowering.ops.mean import reduction


def _scale_zp(t: Tensor) -> tuple[float, int]:
    """TfLiteTensor.params as TFLite reads them: scale 0 and zero point 0 when unquantized."""
    if t.quant is None:
        return 0.0, 0
    return float(t.quant.scale[0]), int(t.quant.zero_point[0])


@lowering("REDUCE_MAX", "REDUCE_MIN")
def lower_reduce_max_min(graph: Graph, op: Op) -> Kernel:
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, "int8", "int16")
    if y.dtype != x.dtype:
        raise fail(graph, op, f"input type {x.dtype.upper()} and output type {y.dtype.upper()} differ")
    (xs, xzp), (ys, yzp) = _scale_zp(x), _scale_zp(y)
    if xs != ys or xzp != yzp:
        raise fail(
            graph,
            op,
            f"input quantization (scale {xs:g}, zero point {xzp}) differs from the output's "
            f"(scale {ys:g}, zero point {yzp}); TFLite compares raw values and refuses that",
        )
    if x.dtype == "int16" and (xzp != 0 or yzp != 0):
        raise fail(graph, op, "int16 zero points must be 0 (TFLite's Prepare requires it)")
    r = reduction(graph, op, x, y)
    which = "max" if op.opcode == "REDUCE_MAX" else "min"
    return Kernel(
        func=f"ec_reduce_{which}_{DTYPE_SUFFIX[x.dtype]}",
        unit="ec_reduce",
        params_type="ec_reduce_params_t",
        params=dict(dims=r.dims, out_strides=r.out_strides, num_outputs=r.num_outputs),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"{which} axes {r.axes}{' keep_dims' if r.keep_dims else ''} over {r.count}",
    )
