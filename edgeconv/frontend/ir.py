"""The graph IR: a small typed view of one TFLite subgraph.

The reader fills it, passes rewrite it (a pass is a function Graph -> Graph), the planner and
emitter read it. Tensors and ops are addressed by their index in the original model so that
every error message and report can name them the way TFLite tools do.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from edgeconv.frontend.dtypes import dtype_size


class ModelError(Exception):
    """A problem with the user's model: reported as one line, exit status 2."""


class UnsupportedOpError(ModelError):
    pass


@dataclass(frozen=True)
class Quant:
    """Affine quantization: real = scale * (q - zero_point), per tensor or along `axis`."""

    scale: tuple[float, ...]  # float32 values as stored in the model
    zero_point: tuple[int, ...]
    axis: int = 0

    @property
    def per_channel(self) -> bool:
        return len(self.scale) > 1

    @property
    def s(self) -> float:
        """The per-tensor scale (first entry)."""
        return self.scale[0]

    @property
    def zp(self) -> int:
        return self.zero_point[0]


@dataclass
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    quant: Quant | None = None
    data: np.ndarray | None = None  # constant contents, shaped, or None for activations
    is_variable: bool = False

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def nbytes(self) -> int:
        return self.size * dtype_size(self.dtype)

    def describe(self) -> str:
        return f"tensor {self.index} '{self.name}'"


@dataclass
class Op:
    index: int  # position in the original model's operator list
    opcode: str  # builtin operator name, e.g. "CONV_2D"
    inputs: list[int]  # tensor indices; -1 marks an omitted optional input
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)
    options_type: str = ""  # the BuiltinOptions table's type in the file ("Conv2DOptions"), "" if none

    def describe(self, graph: Graph | None = None) -> str:
        out = ""
        if graph is not None and self.outputs:
            out = f" (output {graph.tensors[self.outputs[0]].describe()})"
        return f"op {self.index} {self.opcode}{out}"


@dataclass
class Graph:
    name: str
    tensors: dict[int, Tensor]
    ops: list[Op]
    inputs: list[int]
    outputs: list[int]
    description: str = ""
    # Tensors whose shape in the file differs from the one TFLite computes (shapes.infer_shapes):
    # index -> (stored shape, TFLite's shape), folded and dead tensors included. TFLite Micro
    # does not resize tensors: it runs the stored ones.
    shape_changes: dict[int, tuple[tuple[int, ...], tuple[int, ...]]] = field(default_factory=dict)

    def tensor(self, index: int) -> Tensor:
        return self.tensors[index]

    def producers(self) -> dict[int, Op]:
        return {t: op for op in self.ops for t in op.outputs}

    def consumers(self) -> dict[int, list[Op]]:
        result: dict[int, list[Op]] = {}
        for op in self.ops:
            for t in op.inputs:
                if t >= 0:
                    result.setdefault(t, []).append(op)
        return result

    def with_ops(self, ops: list[Op]) -> Graph:
        """A copy with a new op list, dropping tensors nothing refers to any more."""
        used = set(self.inputs) | set(self.outputs)
        for op in ops:
            used.update(t for t in op.inputs if t >= 0)
            used.update(op.outputs)
        tensors = {i: t for i, t in self.tensors.items() if i in used}
        return replace(self, ops=ops, tensors=tensors)
