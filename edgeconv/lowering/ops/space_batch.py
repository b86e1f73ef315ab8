"""SPACE_TO_BATCH_ND and BATCH_TO_SPACE_ND (int8, 3-D or 4-D), as the converter emits them
around a dilated convolution: SPACE_TO_BATCH_ND -> CONV_2D (VALID) -> BATCH_TO_SPACE_ND.

Padding value of SPACE_TO_BATCH_ND: the output zero point (real 0), as in TFLite's reference
(LiteRT passes output->params.zero_point as SpaceToBatchParams.output_offset).

TFLite Micro has no defined value here: its kernel reads SpaceToBatchParams.output_offset,
which its Prepare never sets, from a persistent buffer the allocator does not clear. On a
fresh arena that is 0; after other interpreters have used the heap it is whatever was there
(observed: 0 in a fresh process, -96 in a long test process, for the same model and input).
No output can match that bit for bit, so padded positions follow the one defined semantics,
TFLite's. Where paddings are nonzero, TFLite Micro agrees only by accident (zero point 0 on
a zeroed arena); a dilated convolution with VALID padding is unaffected (its padded
positions only feed outputs that BATCH_TO_SPACE_ND crops away).
"""

from __future__ import annotations

import numpy as np

from edgeconv.frontend.ir import Graph, Op, UnsupportedOpError
from edgeconv.lowering.ops.base import Kernel, const_input, fail, lowering, require_dtype


def _io_4d(graph: Graph, op: Op):
    x = graph.tensors[op.inputs[0]]
    y = graph.tensors[op.outputs[0]]
    require_dtype(graph, op, x, "int8")
    require_dtype(graph, op, y, "int8")
    if not 3 <= len(x.shape) <= 4 or len(y.shape) != len(x.shape):
        raise UnsupportedOpError(
            f"{op.describe(graph)}: supports 3-D or 4-D input and output of equal rank, "
            f"got {list(x.shape)} -> {list(y.shape)}"
        )
    spatial = len(x.shape) - 2
    block = [int(v) for v in np.asarray(const_input(graph, op, 1, "block_shape")).reshape(-1)]
    pads = np.asarray(const_input(graph, op, 2, "paddings" if op.opcode == "SPACE_TO_BATCH_ND" else "crops"))
    if len(block) != spatial or pads.size != 2 * spatial:
        raise fail(graph, op, f"block_shape {block} / {pads.reshape(-1).tolist()} do not fit {spatial} spatial dims")
    if min(block) < 1:
        raise fail(graph, op, f"block_shape {block} has a value below 1")
    pads = [[int(a), int(b)] for a, b in pads.reshape(spatial, 2)]
    if min(min(p) for p in pads) < 0:
        raise fail(graph, op, f"negative paddings/crops {pads}")
    # NHC is handled as NH1C, with a block of 1 and no padding along the dummy width.
    if spatial == 1:
        block, pads = block + [1], pads + [[0, 0]]
        xs = (x.shape[0], x.shape[1], 1, x.shape[2])
        ys = (y.shape[0], y.shape[1], 1, y.shape[2])
    else:
        xs, ys = tuple(x.shape), tuple(y.shape)
    return x, y, [int(d) for d in xs], [int(d) for d in ys], block, pads


@lowering("SPACE_TO_BATCH_ND")
def lower_space_to_batch(graph: Graph, op: Op) -> Kernel:
    x, y, (ib, ih, iw, c), (ob, oh, ow, oc), (bh, bw), ((pt, pb), (pl, pr)) = _io_4d(graph, op)
    ph, pw = ih + pt + pb, iw + pl + pr
    if ph % bh or pw % bw or (ob, oh, ow, oc) != (ib * bh * bw, ph // bh, pw // bw, c):
        raise fail(
            graph,
            op,
            f"output {list(y.shape)} does not match input {list(x.shape)} with block "
            f"({bh}, {bw}) and paddings {[[pt, pb], [pl, pr]]}",
        )
    # The output zero point, as TFLite's reference kernels pad. (TFLite Micro never sets its
    # pad value and pads with whatever its params buffer holds; see validation.py.)
    pad_value = y.quant.zp if y.quant is not None else 0
    # ec_space_to_batch_params_t's fields; like BATCH_TO_SPACE's below (pads where it crops), but kept apart: each C
    # params struct has its own fields, which this dict must match one for one
    return Kernel(
        func="ec_space_to_batch_s8",
        unit="ec_space_batch",
        params_type="ec_space_to_batch_params_t",
        params=dict(
            in_b=ib,
            in_h=ih,
            in_w=iw,
            depth=c,
            out_b=ob,
            out_h=oh,
            out_w=ow,
            block_h=bh,
            block_w=bw,
            pad_top=pt,
            pad_left=pl,
            pad_value=pad_value,
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"block ({bh},{bw}) pad [[{pt},{pb}],[{pl},{pr}]]",
    )


@lowering("BATCH_TO_SPACE_ND")
def lower_batch_to_space(graph: Graph, op: Op) -> Kernel:
    x, y, (ib, ih, iw, c), (ob, oh, ow, oc), (bh, bw), ((ct, cb), (cl, cr)) = _io_4d(graph, op)
    if ib % (bh * bw) or (ob, oh, ow, oc) != (ib // (bh * bw), ih * bh - ct - cb, iw * bw - cl - cr, c):
        raise fail(
            graph,
            op,
            f"output {list(y.shape)} does not match input {list(x.shape)} with block "
            f"({bh}, {bw}) and crops {[[ct, cb], [cl, cr]]}",
        )
    # ec_batch_to_space_params_t's fields; like SPACE_TO_BATCH's above (crops where it pads), but kept apart: each C
    # params struct has its own fields, which this dict must match one for one
    return Kernel(
        func="ec_batch_to_space_s8",
        unit="ec_space_batch",
        params_type="ec_batch_to_space_params_t",
        params=dict(
            in_b=ib,
            in_h=ih,
            in_w=iw,
            depth=c,
            out_b=ob,
            out_h=oh,
            out_w=ow,
            block_h=bh,
            block_w=bw,
            crop_top=ct,
            crop_left=cl,
        ),
        inputs=[x.index],
        outputs=[y.index],
        summary=f"block ({bh},{bw}) crop [[{ct},{cb}],[{cl},{cr}]]",
    )
