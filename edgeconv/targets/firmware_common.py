"""What every firmware builder shares (firmware.py: Cortex-M and RISC-V; avr.py: AVR; emulate.py and
bundle_firmware.py for emulated runs): the report a build gives (FirmwareReport), the error for a
missing tool, the firmware mains (the minimal one, and boards/support/*.c.in filled in for a
model), and the byte layout samples go in and outputs come out of an emulated firmware.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from edgeconv.frontend.boards import boards_dir
from edgeconv.frontend.dtypes import ELEMENT_TYPES
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import CompiledModel


class FirmwareFolder:
    """What every emulated firmware (QEMU's, simavr's, a bundle's) has: a work folder that keeps
    its firmware.elf, removed by close()."""

    work: Path

    def close(self) -> None:
        shutil.rmtree(self.work, ignore_errors=True)

    @property
    def elf(self) -> Path:
        return self.work / "firmware.elf"


class ToolchainMissing(ModelError):
    """A compiler, emulator or package a board needs is not installed (one line naming it)."""


@dataclass
class FirmwareReport:
    board: str
    part: str
    elf: str
    flash_code_bytes: int
    flash_weights_bytes: int
    flash_bytes: int
    ram_arena_bytes: int
    ram_stack_bytes: int
    ram_data_bytes: int  # .data and .bss besides the arena
    ram_bytes: int
    board_flash_bytes: int
    board_ram_bytes: int
    files: list[str] = field(default_factory=list)
    weights_summary: str = ""  # which layers took int16 weights (compiler.WeightChoice)
    weight_forms: list[dict] = field(default_factory=list)
    stack_need_bytes: int = 0  # the computed worst case (ram_stack_bytes is what is reserved)
    stack_worst_path: list[str] = field(default_factory=list)  # the deepest call chain
    stack_worst_path_bytes: int = 0  # the frames along it; the rest is the interrupt room
    stack_uncertain: list[str] = field(default_factory=list)  # why not certified (margin added)
    stack_margin_bytes: int = 0
    stack_measured_bytes: int | None = None  # painted high-water mark, where emulated
    # Where the ELF is linked (the part's map for build, the emulator's for emulated runs):
    linked_for: str = "part"
    flash_origin: int = 0  # the first flash address: the vector table on Cortex-M
    ram_origin: int = 0
    stack_top: int = 0  # _estack: the initial stack pointer

    def to_dict(self) -> dict:
        return asdict(self)


def support_dir() -> Path:
    """boards/support/: start-up code, linker script template and the mains' templates."""
    return boards_dir() / "support"


def sample_bytes(model: CompiledModel, sample: list[np.ndarray]) -> bytes:
    """One sample's inputs as the firmware reads them: each input's bytes in its type and shape."""
    g = model.graph
    return b"".join(
        np.ascontiguousarray(
            np.asarray(x, dtype=ELEMENT_TYPES[g.tensors[t].dtype].numpy).reshape(g.tensors[t].shape)
        ).tobytes()
        for x, t in zip(sample, g.inputs)
    )


def outputs_from_bytes(model: CompiledModel, data: bytes, count: int, where: str) -> list[list[np.ndarray]]:
    """The outputs of `count` samples, as a firmware on `where` wrote them one after another."""
    g = model.graph
    outs, pos = [], 0
    for _ in range(count):
        one = []
        for t in g.outputs:
            tensor = g.tensors[t]
            n = tensor.nbytes
            one.append(
                np.frombuffer(data[pos : pos + n], dtype=ELEMENT_TYPES[tensor.dtype].numpy).reshape(tensor.shape).copy()
            )
            pos += n
        outs.append(one)
    if pos != len(data):
        raise ModelError(f"the emulated {where} wrote {len(data)} bytes of outputs, expected {pos}")
    return outs


def main_source(name: str) -> str:
    return (
        f"/* Minimal firmware main for {name}: one inference on the arena's initial inputs.\n"
        " * Real firmware fills the input from its sensors before each invoke. */\n"
        f'#include "{name}.h"\n\n'
        "int main(void);\n\n"
        "int main(void) {\n"
        f"    return {name}_invoke();\n"
        "}\n"
    )


def main_from_template(compiled: CompiledModel, template: str) -> str:
    """A boards/support/*.c.in main filled in for this model: name and I/O byte counts."""
    g = compiled.graph
    text = (support_dir() / template).read_text()
    return (
        text.replace("@NAME_UPPER@", compiled.name.upper())
        .replace("@NAME@", compiled.name)
        .replace("@INPUT_BYTES@", ", ".join(str(g.tensors[t].nbytes) for t in g.inputs))
        .replace("@OUTPUT_BYTES@", ", ".join(str(g.tensors[t].nbytes) for t in g.outputs))
    )
