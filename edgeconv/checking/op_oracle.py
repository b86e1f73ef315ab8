"""TFLite Micro op by op: the oracle for a model TFLite Micro cannot run whole.

TFLite Micro lacks some ops (EXP, LOG, GELU, SELECT, TILE version 3, int16 REDUCE_MAX, ...)
and refuses a model that uses one; TFLite's reference kernels then run it, but they are not
TFLite Micro: at FULLY_CONNECTED, for one, the two round differently by one LSB, and edgeconv
follows TFLite Micro. Comparing such a model with TFLite's reference alone would fail the C
where it is right.

`OpByOpOracle` runs the model one op at a time, each op in a model of its own (`single_op_model`),
in TFLite Micro wherever TFLite Micro runs that op, in TFLite's reference kernels only where it
does not (or where its output is undefined: a SPACE_TO_BATCH_ND that pads). Each op reads what
the oracle computed for its inputs, never the C's values, so the outputs are what TFLite Micro
would compute had it every op of the model. The one-op models carry the shapes TFLite computes
(`Graph.tensors` after shapes.infer_shapes), so the dynamic-batch placeholders TFLite Micro
would otherwise run (it never resizes a tensor) play no part.

Inputs of an op that are constant in the file stay constants (with their buffers); inputs that
TFLite computes from constants only (a SHAPE -> STRIDED_SLICE -> PACK chain feeding a RESHAPE)
become constants holding the value the oracle computed for them, as TFLite's Prepare reads them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from edgeconv.checking.references import ReferenceFailed, ReferenceUnavailable, TfliteRefReference, TflmReference
from edgeconv.frontend.ir import Graph

TITLE = "TFLite Micro op by op"

# SPACE_TO_BATCH_ND's builtin code: TFLite Micro pads it with a value it never sets.
_SPACE_TO_BATCH_ND = 38


class OpOracleUnavailable(Exception):
    """Neither reference runs one of the model's ops on its own (the message names it)."""


@dataclass
class OpRun:
    """Where one op of the model ran."""

    index: int
    opcode: str
    reference: str  # "tflm" or "tflite_ref"
    why: str = ""  # why not TFLite Micro, if not


@dataclass
class OpByOpResult:
    outputs: list[list[np.ndarray]]  # per sample, the model's outputs
    runs: list[OpRun] = field(default_factory=list)
    tensors: dict[int, list[np.ndarray]] | None = None  # every tensor, per sample (keep_all)
    notes: list[str] = field(default_factory=list)

    def fallbacks(self) -> list[OpRun]:
        return [r for r in self.runs if r.reference != "tflm"]


def _schema():
    from ai_edge_litert import schema_py_generated as schema

    return schema


class _FileModel:
    """The model file, parsed once with the schema's object API."""

    def __init__(self, data: bytes) -> None:
        schema = _schema()
        self.data = data
        self.model = schema.ModelT.InitFromPackedBuf(data, 0)
        self.sg = self.model.subgraphs[0]

    def builtin(self, op) -> int:
        oc = self.model.operatorCodes[op.opcodeIndex]
        return max(oc.builtinCode, oc.deprecatedBuiltinCode)

    def constant_bytes(self, t: int) -> bytes | None:
        """The stored contents of tensor t, or None if it has none (an activation)."""
        tensor = self.sg.tensors[t]
        buf = self.model.buffers[tensor.buffer] if 0 < tensor.buffer < len(self.model.buffers) else None
        if buf is None:
            return None
        if buf.offset and buf.offset > 1:  # stored after the flatbuffer (models beyond 2 GB)
            return bytes(self.data[buf.offset : buf.offset + buf.size])
        if buf.data is None or len(buf.data) == 0:
            return None
        return np.asarray(buf.data, dtype=np.uint8).tobytes()


def single_op_model(
    file: _FileModel, op_position: int, graph: Graph, constants: dict[int, np.ndarray]
) -> tuple[bytes, list[int]]:
    """A model of the one op at `op_position` in the file's subgraph 0: its inputs constant where
    the file stores them or `constants` gives them, graph inputs otherwise (returned, in order);
    its outputs the model's outputs. Tensors carry the shapes in `graph` (TFLite's)."""
    import copy

    import flatbuffers

    schema = _schema()
    src_op = file.sg.operators[op_position]
    model = schema.ModelT()
    model.version = file.model.version or 3
    model.description = b"edgeconv: one op"
    model.buffers = [schema.BufferT()]
    model.operatorCodes = [copy.deepcopy(file.model.operatorCodes[src_op.opcodeIndex])]
    sg = schema.SubGraphT()
    sg.tensors, sg.inputs, sg.outputs, sg.operators = [], [], [], []
    index: dict[int, int] = {}

    def add(t: int, contents: bytes | None) -> int:
        if t in index:
            return index[t]
        tensor = copy.deepcopy(file.sg.tensors[t])
        tensor.buffer = 0
        tensor.shapeSignature = None
        if t in graph.tensors:
            tensor.shape = [int(d) for d in graph.tensors[t].shape]
        if contents is not None:
            buf = schema.BufferT()
            buf.data = np.frombuffer(contents, dtype=np.uint8)
            model.buffers.append(buf)
            tensor.buffer = len(model.buffers) - 1
        sg.tensors.append(tensor)
        index[t] = len(sg.tensors) - 1
        return index[t]

    feeds: list[int] = []
    inputs = []
    for t in src_op.inputs if src_op.inputs is not None else []:
        if t < 0:
            inputs.append(-1)
            continue
        stored = file.constant_bytes(t)
        if stored is None and t in constants:
            stored = np.ascontiguousarray(constants[t]).tobytes()
        new = add(t, stored)
        if stored is None and t not in feeds:
            feeds.append(t)
            sg.inputs.append(new)
        inputs.append(new)
    outputs = [add(t, None) for t in src_op.outputs]
    sg.outputs = list(outputs)
    op = copy.deepcopy(src_op)
    op.opcodeIndex = 0
    op.inputs, op.outputs = inputs, outputs
    op.intermediates = None
    sg.operators = [op]
    sg.name = b"main"
    model.subgraphs = [sg]
    builder = flatbuffers.Builder(1024 + sum(len(b.data) if b.data is not None else 0 for b in model.buffers))
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output()), feeds


class OpByOpOracle:
    """Runs a model op by op (see the module's docstring). `graph` is the compiled graph (its
    tensors carry TFLite's shapes and the values folded from constants)."""

    def __init__(self, data: bytes, graph: Graph, timeout: float) -> None:
        self.file = _FileModel(data)
        self.graph = graph
        self.timeout = timeout

    def _needed_ops(self) -> list[int]:
        """Positions of the file's ops that the model's outputs depend on, in order."""
        sg = self.file.sg
        producer = {t: i for i, op in enumerate(sg.operators) for t in op.outputs}
        wanted, todo = set(), list(sg.outputs)
        while todo:
            t = todo.pop()
            i = producer.get(t)
            if i is None or i in wanted:
                continue
            wanted.add(i)
            todo.extend(x for x in sg.operators[i].inputs if x >= 0)
        return sorted(wanted)

    def run(self, samples: list[list[np.ndarray]], keep_all: bool = False) -> OpByOpResult:
        """The model's outputs for each sample (each a list of input arrays, in the model's input
        order); with keep_all, every tensor the oracle computed as well."""
        sg = self.file.sg
        values: dict[int, list[np.ndarray]] = {t: [np.asarray(s[i]) for s in samples] for i, t in enumerate(sg.inputs)}
        ops = self._needed_ops()
        last_use: dict[int, int] = {}
        for i in ops:
            for t in sg.operators[i].inputs:
                last_use[t] = i
        keep = set(sg.outputs)
        constants: dict[int, np.ndarray] = {}
        runs: list[OpRun] = []
        from edgeconv.progress import track

        for i in track(ops, "TFLite Micro op by op"):
            src = sg.operators[i]
            opcode = _opcode_name(self.file, src)
            label = f"op {i} {opcode}"
            # Inputs TFLite computes from constants only: constants in the op's own model.
            for t in src.inputs:
                if t >= 0 and t in values and self._is_folded(t):
                    constants[t] = values[t][0]
            model_bytes, feeds = single_op_model(self.file, i, self.graph, constants)
            missing = [t for t in feeds if t not in values]
            if missing:
                raise OpOracleUnavailable(f"{label} reads tensor {missing[0]}, which no earlier op writes")
            batch = [[values[t][k] for t in feeds] for k in range(len(samples))]
            outs, run = self._run_op(model_bytes, batch, len(src.outputs), i, opcode, src)
            runs.append(run)
            for j, t in enumerate(src.outputs):
                values[t] = [o[j] for o in outs]
            if not keep_all:
                for t in src.inputs:
                    if t >= 0 and last_use.get(t) == i and t not in keep:
                        values.pop(t, None)
        outputs = [[values[t][k] for t in sg.outputs] for k in range(len(samples))]
        return OpByOpResult(outputs, runs, values if keep_all else None)

    def _is_folded(self, t: int) -> bool:
        """Constant for TFLite's Prepare though computed: edgeconv's graph folded it."""
        tensor = self.graph.tensors.get(t)
        return tensor is not None and tensor.data is not None and self.file.constant_bytes(t) is None

    def _run_op(self, model_bytes: bytes, batch, n_out: int, i: int, opcode: str, src):
        if self.file.builtin(src) == _SPACE_TO_BATCH_ND and self._pads(src):
            why = "TFLite Micro pads with a value it never sets"
        else:
            try:
                with TflmReference(model_bytes, timeout=self.timeout) as ref:
                    return self._run_all(ref, batch, n_out), OpRun(i, opcode, "tflm")
            except ReferenceUnavailable:
                why = "refused by TFLite Micro"
            except ReferenceFailed as exc:
                why = f"TFLite Micro {exc.reason}" if exc.died else "failed in TFLite Micro"
        try:
            with TfliteRefReference(model_bytes, timeout=self.timeout) as ref:
                return self._run_all(ref, batch, n_out), OpRun(i, opcode, "tflite_ref", why)
        except (ReferenceUnavailable, ReferenceFailed) as exc:
            raise OpOracleUnavailable(f"op {i} {opcode}: neither reference runs it on its own ({why}; {exc})") from None

    @staticmethod
    def _run_all(ref, batch, n_out: int) -> list[list[np.ndarray]]:
        ref.start_runs(batch, n_out)
        return [ref.finish_run() for _ in batch]

    def _pads(self, src) -> bool:
        if len(src.inputs) < 3 or src.inputs[2] < 0:
            return False
        raw = self.file.constant_bytes(src.inputs[2])
        return raw is None or bool(np.frombuffer(raw, dtype=np.int32).any())


def _opcode_name(file: _FileModel, src) -> str:
    names = {v: k for k, v in vars(_schema().BuiltinOperator).items() if not k.startswith("_")}
    return names.get(file.builtin(src), f"builtin {file.builtin(src)}")
