"""L2_NORMALIZATION (int8) along the last dimension, as TFLite Micro's l2norm.cc runs
reference_integer_ops::L2Normalization (c_runtime/ec_l2_normalization.c). The output is
written in scale 1/128, zero point 0, which TFLite's Prepare requires; TFLite Micro does not
check it, but any other output quantization would be misread, so it is refused. int16 is
refused: neither reference runs it.
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op
from edgeconv.lowering.ops.base import Kernel, fail, lowering
from edgeconv.lowering.ops.lut import same_shape_io

_INT32_MAX = (1 << 31) - 1


@lowering("L2_NORMALIZATION")
def lower_l2_normalization(graph: Graph, op: Op) -> Kernel:
    x, y = same_shape_io(graph, op, ("int8",))
    activation = int(op.options.get("fused_activation_function", 0))
    if activation != 0:
        raise fail(graph, op, f"fused activation {activation}: TFLite's L2_NORMALIZATION supports none")
    if not 1 <= len(x.shape) <= 4:
        raise fail(graph, op, f"input rank {len(x.shape)}: TFLite Micro's L2_NORMALIZATION takes ranks 1 to 4")
    if np.float32(y.quant.s) != np.float32(1.0 / 128) or y.quant.zp != 0:
        raise fail(
            graph,
            op,
            f"int8 output must have scale 1/128 and zero point 0 (has {y.quant.s:g}, {y.quant.zp}); TFLite requires it",
        )
    depth = int(x.shape[-1])
    # The int32 sum of squares must not overflow (TFLite's would): depth * max|x - zp|^2.
    largest = max(127 - x.quant.zp, x.quant.zp + 128)
    if depth * largest * largest > _INT32_MAX:
        raise fail(
            graph,
            op,
            f"last dimension {depth} is too large: the int32 sum of squares of x - zero point "
            f"({x.quant.zp}) can overflow",
        )
    return Kernel(
        func="ec_l2_normalization_s8",
        unit="ec_l2_normalization",
        params_type="ec_l2_normalization_params_t",
        params=dict(rows=x.size // depth if depth else 0, depth=depth, input_zp=x.quant.zp),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"depth {depth}",
    )
