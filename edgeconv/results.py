"""What the commands return: one typed result per command, shared by the Python API and the
command line. Each result's to_dict() is exactly the object the command prints with --json, so
the two cannot drift apart (tests/test_api.py compares them).

Commands whose results live beside their computation reuse those: `validate` returns
validation.ValidationReport, `build` firmware_common.FirmwareReport, `quantize`
training.quantizing.QuantizeReport.
The results below are the other four. A `model` field is the path the command was given, or,
for a model given to the API as bytes, its name.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgeconv.emit.emitter import EmittedModel
    from edgeconv.lowering.compiler import CompiledModel


def _json_fields(result: Any, exclude: tuple[str, ...] = ()) -> dict:
    """The dataclass's fields as plain data (copied), leaving out those not printed; a result's
    own fields (what it is about: the model, ...) before those it shares with others."""
    own = [f.name for f in fields(result) if f.name not in exclude]
    shared = (
        [name for name in (f.name for f in fields(ModelFigures)) if name in own]
        if isinstance(result, ModelFigures)
        else []
    )
    order = [name for name in own if name not in shared] + shared
    return {name: copy.deepcopy(getattr(result, name)) for name in order}


@dataclass(kw_only=True)
class ModelFigures:
    """What compile and inspect both report about a compiled model."""

    ram_bytes: int  # the arena
    arena_lower_bound: int  # no plan of these tensors in this order needs less
    flash_bytes: int  # constants: weights, biases, multipliers, tables, op parameters
    weights_bytes: int
    macs: int
    weights_mode: str  # --weights: int8, int16 or auto
    weights_int16_extra_flash_bytes: int
    weights_int16_instructions_saved: int
    weight_forms: list[dict]  # each MAC layer: {"op", "opcode", "form"}
    weights_summary: str  # which layers took int16 weights, in one sentence

    @staticmethod
    def of(compiled: CompiledModel, emitted: EmittedModel) -> dict:
        """The keyword arguments for these fields."""
        return {
            "ram_bytes": compiled.ram_bytes,
            "arena_lower_bound": compiled.plan.lower_bound,
            "flash_bytes": emitted.flash_const_bytes,
            "weights_bytes": emitted.weights_bytes,
            "macs": compiled.macs,
            **compiled.weights.to_dict(compiled.steps),
            "weights_summary": compiled.weights.summary(),
        }


@dataclass(kw_only=True)
class CompileResult(ModelFigures):
    """`edgeconv compile`. `compiled` (not printed) is the CompiledModel: graph, steps, plan."""

    model: str
    name: str  # the C identifier prefixing every symbol
    output_dir: str | None  # None: the API was not asked to write the files
    files: list[str]  # generated, sorted
    kernels: int  # C calls per inference
    compiled: CompiledModel | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict:
        return _json_fields(self, exclude=("compiled",))


@dataclass(kw_only=True)
class InspectResult(ModelFigures):
    """`edgeconv inspect`: one row per op (report.layer_rows), and the totals. With a board,
    `instructions` per inference on its emulated core and per layer in each row."""

    model: str
    layers: list[dict]
    board: str | None = None
    instructions: int | None = None
    # With a board: the firmware `build` would link, beside the part (firmware.BoardFit).
    fit: dict | None = None
    # The model's inputs and outputs (report.io_tensors): name, shape, dtype, bytes, scale, zero point.
    inputs: list[dict] = field(default_factory=list)
    outputs: list[dict] = field(default_factory=list)

    def to_dict(self) -> dict:
        return _json_fields(self)


@dataclass
class TrainReport:
    """`edgeconv train`: the files written and the float model's accuracy on the test split."""

    model: str  # the .keras model
    history: str  # its training history (.history.json)
    metadata: str  # what quantize and demo read (.edgeconv.json): data set, split, classes
    float_accuracy: float  # on the held-out test split
    arch: str
    data: str  # the data set trained on

    def to_dict(self) -> dict:
        return _json_fields(self)


@dataclass
class DemoResult:
    """`edgeconv demo`: accuracies of the float model, the int8 model and the C on the same
    test digits, whether the C is bit-exact, its figures and the files written."""

    float_accuracy: float
    int8_accuracy: float
    c_accuracy: float
    bit_exact: bool
    validated_samples: int
    test_samples: int
    ram_bytes: int
    flash_bytes: int
    macs: int
    output_dir: str
    model_keras: str
    model_tflite: str
    c_sources: str
    seconds: float  # wall time of the whole run

    def to_dict(self) -> dict:
        return _json_fields(self)


@dataclass
class EvaluateResult:
    """`edgeconv evaluate` (edgeconv.evaluate): the float model (optional), the int8 model
    (TFLite Micro) and the C scored on labelled data, per output. The *_accuracy fields are the
    top-1 accuracy of the first classification output (None: no such output, or no float model).
    Each entry of `outputs`: index, name, kind (classification, regression, reconstruction,
    unscored), elements, and `scores` {"float", "int8", "c"}, each None or the output's scores:
    classification {top1, top_k, correct, recall[class], confusion[true][predicted]} (with
    classes, class_names, binary beside them); the others {rmse, mean_abs_error, max_abs_error,
    cosine, anomaly_auc, mse_by_label}."""

    model: str
    data: str  # the data file or folder, as read
    samples: int
    float_model: str | None
    board: str | None  # None: the C ran on the host
    top_k: int
    int8_runner: str  # "TFLite Micro", or its op-by-op form
    c_runner: str  # "host" or "emulated <board>"
    float_accuracy: float | None
    int8_accuracy: float | None
    c_accuracy: float | None
    c_equals_int8: bool
    c_mismatches: int  # output elements where the C differs from the int8 model (must be 0)
    c_elements_compared: int
    first_c_mismatch: str | None
    outputs: list[dict]
    notes: list[str] = field(default_factory=list)
    report: str | None = None  # the --report file written

    def to_dict(self) -> dict:
        return _json_fields(self)


@dataclass(kw_only=True)
class ReportResult:
    """`edgeconv report`: the files written (None: not asked to write), the pictures, the
    figures of `inspect --json` with the same options (`inspect`, equal by construction) and
    what the report adds (`report`: the arena blocks, the peak step, the quantization error
    per layer, which sample the feature maps show, the evaluation). The JSON file is this."""

    model: str
    html: str | None
    markdown: str | None
    json: str | None
    pictures: list[dict]  # file (relative to the HTML's folder), caption, width, height (pixels)
    board: str | None
    float_model: str | None
    data: str | None
    inspect: dict
    report: dict

    def to_dict(self) -> dict:
        return _json_fields(self)


@dataclass(kw_only=True)
class AdviseResult:
    """`edgeconv advise MODEL --board B` (advise.py): whether the model fits and what limits
    it (the RAM peak's step, op and live tensors; the layers with the most constants and
    instructions), and `variants`: the whole model's figures recompiled with one change each
    (variants.py), with what each cuts from the limit. `sweep` (--arch/--data, sweep.py): the
    trials of the architecture search, its Pareto front and the recommended trial; then the
    model fields are None."""

    model: str | None
    board: str
    part: str
    fits: bool | None = None
    limits: list[str] = field(default_factory=list)  # what does not fit, and by how much
    fit: dict | None = None  # firmware.BoardFit, as inspect --board gives it
    arena_bytes: int | None = None
    constants_bytes: int | None = None
    flash_bytes: int | None = None  # the firmware's
    ram_bytes: int | None = None  # the firmware's: arena, stack, data
    macs: int | None = None
    instructions: int | None = None
    peak: dict | None = None  # step, op, opcode, live_bytes, tensors [{tensor, name, bytes, producer, ...}]
    flash_layers: list[dict] = field(default_factory=list)
    instruction_layers: list[dict] = field(default_factory=list)
    layers_tried: list[int] = field(default_factory=list)
    variants: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # e.g. a board whose instructions no emulator counts
    sweep: dict | None = None

    def to_dict(self) -> dict:
        return _json_fields(self)
