"""What-if variants of a model for `edgeconv advise`: the same graph with one layer changed
(stride 2, half the filters, a smaller kernel, depthwise-separable instead of a full
convolution) or the whole model changed (half the filters everywhere, half the input
resolution), as a new IR graph that the normal compile then lowers, plans and emits.

The change is made on the graph after the passes (shapes inferred). Every op after it is
walked in order: its constant inputs are refitted to the shapes its inputs now have (a
convolution's filter takes the new input channels, a FULLY_CONNECTED the new flattened depth,
a RESHAPE's target the new element count, a global pool the new spatial size), then its output
shapes are recomputed by shapes.output_shapes, TFLite's own rules. The values of the weights do
not matter for cost: existing weights are cropped or repeated along each axis (their
quantization with them), new ones (the depthwise-separable pair) are seeded random int8 with
the replaced layer's scales. A change the graph cannot follow (a residual ADD whose two
branches no longer agree) raises NotApplicable with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from edgeconv.frontend.ir import Graph, ModelError, Op, Quant, Tensor
from edgeconv.frontend.shapes import output_shapes

# Per-layer changes and whole-model changes, in the order the advice lists them.
LAYER_CHANGES = ("stride2", "half_filters", "smaller_kernel", "separable")
MODEL_CHANGES = ("half_width", "half_resolution", "half_width+half_resolution")
CHANGE_TEXT = {
    "stride2": "stride 2",
    "half_filters": "half the filters",
    "smaller_kernel": "smaller kernel",
    "separable": "depthwise-separable",
    "half_width": "half the filters in every layer",
    "half_resolution": "half the input resolution",
    "half_width+half_resolution": "half the filters everywhere and half the input resolution",
}
MAC_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED")


class NotApplicable(Exception):
    """The change does not apply to this layer, or the graph cannot follow it."""


@dataclass(frozen=True)
class Change:
    kind: str  # one of LAYER_CHANGES (with op) or MODEL_CHANGES (op None)
    op: int | None = None  # the op's index in the model

    @property
    def text(self) -> str:
        where = f"op {self.op}: " if self.op is not None else "model: "
        return where + CHANGE_TEXT[self.kind]


def applicable_changes(graph: Graph, op: Op) -> list[str]:
    """The per-layer changes that mean something for this op (a 1x1 convolution has no
    smaller kernel; a layer already strided keeps its stride; the classifier keeps its
    classes)."""
    kinds: list[str] = []
    keep = classifier_ops(graph)
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        w = graph.tensors[op.inputs[1]].shape
        if int(op.options.get("stride_h", 1)) == 1 and int(op.options.get("stride_w", 1)) == 1:
            kinds.append("stride2")
        if op.opcode == "CONV_2D" and op.index not in keep and w[0] > 1:
            kinds.append("half_filters")
        if max(w[1], w[2]) > 1:
            kinds.append("smaller_kernel")
        if op.opcode == "CONV_2D" and max(w[1], w[2]) > 1 and w[3] > 1:
            kinds.append("separable")
    elif op.opcode == "FULLY_CONNECTED" and op.index not in keep and graph.tensors[op.inputs[1]].shape[0] > 1:
        kinds.append("half_filters")
    return kinds


def classifier_ops(graph: Graph) -> set[int]:
    """The MAC ops whose output channels reach a graph output through ops that keep them
    (softmax, reshape, pools): their channel count is the model's answer and stays."""
    producers = graph.producers()
    keep: set[int] = set()
    todo = list(graph.outputs)
    seen: set[int] = set()
    while todo:
        t = todo.pop()
        if t in seen or t not in producers:
            continue
        seen.add(t)
        op = producers[t]
        if op.opcode in MAC_OPS:
            keep.add(op.index)
            if op.opcode != "DEPTHWISE_CONV_2D":
                continue
        todo.extend(i for i in op.inputs if i >= 0 and graph.tensors[i].data is None)
    return keep


def _fit_axis(a: np.ndarray, axis: int, n: int, centred: bool = False) -> np.ndarray:
    """`a` with `n` entries along `axis`: cropped (from the centre for kernel windows) or
    repeated cyclically."""
    old = a.shape[axis]
    if n == old:
        return a
    if n < old and centred:
        idx = np.arange(n) + (old - n) // 2
    else:
        idx = np.arange(n) % old
    return np.take(a, idx, axis=axis)


def _fit_quant(q: Quant | None, n: int) -> Quant | None:
    if q is None or len(q.scale) <= 1:
        return q
    idx = np.arange(n) % len(q.scale)
    return Quant(tuple(q.scale[i] for i in idx), tuple(q.zero_point[i] for i in idx), q.axis)


class _Builder:
    """New tensors and ops for a variant, with fresh indices."""

    def __init__(self, graph: Graph) -> None:
        self.tensors = dict(graph.tensors)
        self.next_tensor = max(self.tensors, default=-1) + 1
        self.next_op = max((op.index for op in graph.ops), default=-1) + 1

    def constant(self, like: Tensor, data: np.ndarray, quant: Quant | None) -> int:
        i = self.next_tensor
        self.next_tensor += 1
        self.tensors[i] = Tensor(
            i,
            like.name,
            tuple(int(d) for d in data.shape),
            like.dtype,
            quant,
            np.ascontiguousarray(data.astype(like.data.dtype)),
        )
        return i

    def activation(self, name: str, like: Tensor) -> int:
        i = self.next_tensor
        self.next_tensor += 1
        self.tensors[i] = Tensor(i, name, like.shape, like.dtype, like.quant)
        return i


def _filter(b: _Builder, t: int, shape: tuple[int, ...], channel_axis: int) -> int:
    """The constant tensor `t` refitted to `shape` (kernel axes centred), its per-channel
    quantization following the channel axis."""
    w = b.tensors[t]
    data = w.data
    for axis, n in enumerate(shape):
        data = _fit_axis(data, axis, n, centred=axis in (1, 2))
    quant = _fit_quant(w.quant, shape[channel_axis]) if w.quant is not None else None
    return b.constant(w, data, quant)


def _bias(b: _Builder, t: int, n: int) -> int:
    if t < 0:
        return t
    bias = b.tensors[t]
    return b.constant(bias, _fit_axis(bias.data.reshape(-1), 0, n), _fit_quant(bias.quant, n))


def _random_filter(
    b: _Builder,
    like: Tensor,
    shape: tuple[int, ...],
    scales: np.ndarray,
    axis: int,
    rng: np.random.Generator,
    name: str,
) -> int:
    data = rng.integers(-127, 128, size=shape, dtype=np.int64).astype(np.int8)
    quant = Quant(tuple(float(s) for s in scales), (0,) * len(scales), axis)
    i = b.constant(like, data, quant)
    b.tensors[i] = replace(b.tensors[i], name=name)
    return i


def _zero_bias(b: _Builder, like: Tensor, scales: np.ndarray, name: str) -> int:
    n = len(scales)
    i = b.constant(like, np.zeros(n, dtype=np.int32), Quant(tuple(float(s) for s in scales), (0,) * n, 0))
    b.tensors[i] = replace(b.tensors[i], name=name)
    return i


def make_variant(graph: Graph, changes: list[Change], seed: int = 0) -> Graph:
    """The graph (after passes) with `changes` made and every later shape and constant
    following. Raises NotApplicable where the change does not apply or the graph cannot follow
    it."""
    rng = np.random.default_rng(seed)
    b = _Builder(graph)
    layer = {c.op: c.kind for c in changes if c.op is not None}
    whole = {k for c in changes if c.op is None for k in c.kind.split("+")}
    keep = classifier_ops(graph)
    ops_by_index = {op.index: op for op in graph.ops}
    for index, kind in layer.items():
        if index not in ops_by_index:
            raise NotApplicable(f"op {index}: no such op")
        if kind not in applicable_changes(graph, ops_by_index[index]):
            raise NotApplicable(f"{CHANGE_TEXT[kind]} does not apply to op {index} {ops_by_index[index].opcode}")
    if "half_resolution" in whole:
        for t in graph.inputs:
            s = b.tensors[t].shape
            spatial = s[1:3] if len(s) == 4 else s[1:2] if len(s) == 3 else ()
            if not any(d >= 2 for d in spatial):
                raise NotApplicable(f"input {b.tensors[t].describe()} of shape {list(s)} has no resolution to halve")
            # every spatial dimension of 2 or more halved (rounding up); a dimension of 1 stays
            halved = tuple(-(-d // 2) if d >= 2 else d for d in spatial)
            b.tensors[t] = replace(b.tensors[t], shape=(s[0], *halved, *s[1 + len(spatial) :]))
    new_ops: list[Op] = []
    for op in graph.ops:
        kind = layer.get(op.index)
        halve = kind == "half_filters" or ("half_width" in whole and op.index not in keep)
        shape_before = {t: b.tensors[t].shape for t in op.inputs if t >= 0}
        made = _refit(b, op, kind, halve, rng, graph)
        for new in made:
            current = replace(graph, tensors=b.tensors)
            try:
                shapes = output_shapes(current, new)
            except ModelError as exc:
                raise NotApplicable(f"op {op.index} {op.opcode} cannot follow the change: {exc}") from None
            if shapes is None:
                if all(b.tensors[t].shape == graph.tensors[t].shape for t in shape_before):
                    shapes = [b.tensors[t].shape for t in new.outputs]
                else:
                    raise NotApplicable(f"op {op.index} {op.opcode} cannot follow the change")
            for t, s in zip(new.outputs, shapes):
                b.tensors[t] = replace(b.tensors[t], shape=tuple(s))
            new_ops.append(new)
    result = replace(graph, tensors=b.tensors, shape_changes={}).with_ops(new_ops)
    if _signature(result) == _signature(graph):
        raise NotApplicable("changes nothing in this model")
    return result


def _signature(graph: Graph) -> list:
    """What a variant can change: each op's code, options and operand shapes."""
    return [
        (op.opcode, sorted(op.options.items()), [graph.tensors[t].shape for t in op.inputs if t >= 0])
        for op in graph.ops
    ]


def _refit(b: _Builder, op: Op, kind: str | None, halve: bool, rng: np.random.Generator, graph: Graph) -> list[Op]:
    """The op (or ops) replacing `op`, its constants fitted to its inputs' current shapes."""
    t = b.tensors
    opts = dict(op.options)
    ins = list(op.inputs)
    if op.opcode in ("CONV_2D", "DEPTHWISE_CONV_2D"):
        x = t[ins[0]].shape
        w = t[ins[1]]
        kh, kw = w.shape[1], w.shape[2]
        if kind == "smaller_kernel":
            kh, kw = max(1, kh - 2), max(1, kw - 2)
        if kind == "stride2":
            opts["stride_h"] = opts["stride_w"] = 2
        if op.opcode == "DEPTHWISE_CONV_2D":
            cout = x[3] * int(opts.get("depth_multiplier", 1) or 1)
            ins[1] = _filter(b, ins[1], (1, kh, kw, cout), 3)
        else:
            cout = max(1, w.shape[0] // 2) if halve else w.shape[0]
            if kind == "separable":
                return _separable(b, op, opts, rng)
            ins[1] = _filter(b, ins[1], (cout, kh, kw, x[3]), 0)
        if len(ins) > 2:
            ins[2] = _bias(b, ins[2], cout)
    elif op.opcode == "FULLY_CONNECTED":
        x = t[ins[0]].shape
        w = t[ins[1]]
        units = max(1, w.shape[0] // 2) if halve else w.shape[0]
        # TFLite flattens the input to [batch, depth]: the last dimension (2-D input, or
        # keep_num_dims), else everything after the batch
        depth = x[-1] if opts.get("keep_num_dims", False) or len(x) <= 2 else int(np.prod(x[1:]))
        if (units, depth) != w.shape:
            ins[1] = _filter(b, ins[1], (units, depth), 0)
            if len(ins) > 2:
                ins[2] = _bias(b, ins[2], units)
    elif op.opcode == "RESHAPE":
        x = t[ins[0]].shape
        old_in = graph.tensors[op.inputs[0]].shape
        if x != old_in:
            target = list(graph.tensors[op.outputs[0]].shape)
            n = int(np.prod(x))
            lead = int(np.prod(target[:-1])) if len(target) > 1 else 1
            if not target or n % lead:
                raise NotApplicable(f"op {op.index} RESHAPE to {target} cannot take {n} elements")
            target[-1] = n // lead
            if len(ins) > 1 and ins[1] >= 0 and t[ins[1]].data is not None:
                ins[1] = b.constant(t[ins[1]], np.array(target, dtype=t[ins[1]].data.dtype), None)
            if opts.get("new_shape"):
                opts["new_shape"] = target
    elif op.opcode in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        x = t[ins[0]].shape
        old = graph.tensors[op.inputs[0]].shape
        fh, fw = int(opts.get("filter_height", 1)), int(opts.get("filter_width", 1))
        if x != old and (fh, fw) == (old[1], old[2]):  # a global pool stays global
            opts["filter_height"], opts["filter_width"] = x[1], x[2]
            if (int(opts.get("stride_h", 1)), int(opts.get("stride_w", 1))) == (fh, fw):
                opts["stride_h"], opts["stride_w"] = x[1], x[2]
        elif int(opts.get("padding", 0)) == 1 and (fh > x[1] or fw > x[2]):
            opts["filter_height"], opts["filter_width"] = min(fh, x[1]), min(fw, x[2])
    return [replace(op, inputs=ins, options=opts)]


def _separable(b: _Builder, op: Op, opts: dict, rng: np.random.Generator) -> list[Op]:
    """A k x k CONV_2D as a k x k DEPTHWISE_CONV_2D (the convolution's stride and padding,
    ReLU) and a 1 x 1 CONV_2D (its filters, its activation)."""
    t = b.tensors
    x_t, w = t[op.inputs[0]], t[op.inputs[1]]
    cin, cout, kh, kw = x_t.shape[3], w.shape[0], w.shape[1], w.shape[2]
    scales = np.resize(np.array(w.quant.scale, dtype=np.float64), cout)
    in_scale = x_t.quant.s
    dw_scales = np.full(cin, float(np.mean(scales)))
    dw_w = _random_filter(b, w, (1, kh, kw, cin), dw_scales, 3, rng, f"{w.name}/depthwise")
    bias_like = t[op.inputs[2]] if len(op.inputs) > 2 and op.inputs[2] >= 0 else None
    like = bias_like if bias_like is not None else Tensor(-1, "bias", (cin,), "int32", None, np.zeros(1, np.int32))
    dw_b = _zero_bias(b, like, dw_scales * in_scale, f"{w.name}/depthwise_bias")
    mid = b.activation(f"{w.name}/depthwise_out", x_t)
    dw_opts = {
        "depth_multiplier": 1,
        "dilation_h_factor": 1,
        "dilation_w_factor": 1,
        "fused_activation_function": 1,
        "padding": opts.get("padding", 0),
        "stride_h": opts.get("stride_h", 1),
        "stride_w": opts.get("stride_w", 1),
    }
    dw = Op(b.next_op, "DEPTHWISE_CONV_2D", [op.inputs[0], dw_w, dw_b], [mid], dw_opts, "DepthwiseConv2DOptions")
    b.next_op += 1
    pw_w = _random_filter(b, w, (cout, 1, 1, cin), scales, 0, rng, f"{w.name}/pointwise")
    pw_b = _zero_bias(b, like, scales * x_t.quant.s, f"{w.name}/pointwise_bias")
    pw_opts = dict(opts, stride_h=1, stride_w=1, padding=0)
    pw = replace(op, inputs=[mid, pw_w, pw_b], options=pw_opts)
    return [dw, pw]
