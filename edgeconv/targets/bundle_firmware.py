"""Several models in ONE emulated firmware (one runtime copy, see bundle.py), run under QEMU.

The firmware's main (boards/support/semihost_multi_main.c.in) runs, for each sample, every
model in turn: it writes that model's inputs, invokes it and appends its outputs, so models
that share an arena (arena "shared", or "user" with one buffer given to all) run one after
another as they must. This is the test that several models linked together stay bit-exact.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from edgeconv.emit.bundle import BundleOptions, EmittedBundle, emit_bundle
from edgeconv.emit.emitter import EmittedModel
from edgeconv.frontend.boards import Board, load_board
from edgeconv.frontend.dtypes import numpy_dtype
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import CompiledModel
from edgeconv.targets.emulate import QEMU_TIMEOUT_S, check_emulator_fit, qemu_command
from edgeconv.targets.firmware import USER_ARENA_NAME, build_in_folder
from edgeconv.targets.firmware_common import FirmwareFolder, FirmwareReport, ToolchainMissing, support_dir


def multi_main_source(models: list[CompiledModel], arena: str) -> str:
    """The semihosting main for several models, from semihost_multi_main.c.in."""
    includes = [f'#include "{m.name}.h"' for m in models]
    user, init = "", ""
    if arena == "user":
        size = max(max(m.plan.size, 1) for m in models)
        user = (
            "/* One buffer given to every model's <name>_init: they run one after another. A union with\n"
            " * int64_t keeps it aligned; the member is never read. */\n"
            "/* cppcheck-suppress unusedStructMember */\n"
            f"static union {{ uint8_t bytes[{size}]; int64_t align; }} {USER_ARENA_NAME} EC_ALIGN(16);\n"
        )
        includes.append('#include "ec_common.h"')
        init = "\n".join(
            f"    if ({m.name}_init({USER_ARENA_NAME}.bytes) != 0) {{\n"
            "        semihost(SYS_EXIT, (void *)0x20023);\n    }"
            for m in models
        )
    run = []
    for m in models:
        g, NAME = m.graph, m.name.upper()
        run += [
            f"        {{ /* {m.name} */",
            f"            static const int32_t in_bytes[{NAME}_NUM_INPUTS] = "
            f"{{{', '.join(str(g.tensors[t].nbytes) for t in g.inputs)}}};",
            f"            static const int32_t out_bytes[{NAME}_NUM_OUTPUTS] = "
            f"{{{', '.join(str(g.tensors[t].nbytes) for t in g.outputs)}}};",
            "            int i;",
            f"            for (i = 0; i < {NAME}_NUM_INPUTS; ++i) {{",
            f"                if (sh_rw(SYS_READ, in_file, {m.name}_input(i), in_bytes[i]) != 0) {{",
            "                    finish();",
            "                }",
            "            }",
            "            ec_profile_op = -1;",
            f"            (void){m.name}_invoke();",
            "            ec_profile_op = -2;",
            f"            for (i = 0; i < {NAME}_NUM_OUTPUTS; ++i) {{",
            f"                sh_rw(SYS_WRITE, out_file, (void *){m.name}_output(i), out_bytes[i]);",
            "            }",
            "        }",
        ]
    text = (support_dir() / "semihost_multi_main.c.in").read_text()
    for key, value in (
        ("@NAMES@", ", ".join(m.name for m in models)),
        ("@INCLUDES@", "\n".join(includes)),
        ("@USER_ARENA@", user),
        ("@INIT@", init),
        ("@RUN@", "\n".join(run)),
    ):
        text = text.replace(key, value)
    return text


@dataclass
class EmulatedBundle(FirmwareFolder):
    board: Board
    models: list[CompiledModel]
    bundle: EmittedBundle
    work: Path  # keeps firmware.elf; removed by close()
    report: FirmwareReport
    files: list[str] = field(default_factory=list)  # the sources compiled into the firmware

    def run(self, samples: dict[str, list[list[np.ndarray]]]) -> dict[str, list[list[np.ndarray]]]:
        """samples: model name -> its samples (every model the same number); returns each
        model's outputs per sample."""
        counts = {len(samples[m.name]) for m in self.models}
        if len(counts) != 1:
            raise ModelError("every model needs the same number of samples")
        n = counts.pop()
        with open(self.work / "inputs.bin", "wb") as f:
            for k in range(n):
                for m in self.models:
                    for x, t in zip(samples[m.name][k], m.graph.inputs):
                        tensor = m.graph.tensors[t]
                        f.write(
                            np.ascontiguousarray(
                                np.asarray(x, dtype=numpy_dtype(tensor.dtype)).reshape(tensor.shape)
                            ).tobytes()
                        )
        out_path = self.work / "outputs.bin"
        out_path.unlink(missing_ok=True)
        try:
            proc = subprocess.run(
                qemu_command(self.board, self.elf),
                cwd=self.work,
                capture_output=True,
                text=True,
                timeout=QEMU_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise ModelError(f"the emulated {self.board.name} did not finish within {QEMU_TIMEOUT_S} s") from None
        if proc.returncode != 0 or not out_path.exists():
            raise ModelError(f"QEMU failed: exit {proc.returncode} {proc.stderr.strip()[:200]}".rstrip())
        data = out_path.read_bytes()
        outs: dict[str, list[list[np.ndarray]]] = {m.name: [] for m in self.models}
        pos = 0
        for _ in range(n):
            for m in self.models:
                one = []
                for t in m.graph.outputs:
                    tensor = m.graph.tensors[t]
                    one.append(
                        np.frombuffer(data[pos : pos + tensor.nbytes], dtype=numpy_dtype(tensor.dtype))
                        .reshape(tensor.shape)
                        .copy()
                    )
                    pos += tensor.nbytes
                outs[m.name].append(one)
        if pos != len(data):
            raise ModelError(f"the emulated {self.board.name} wrote {len(data)} bytes of outputs, expected {pos}")
        return outs


def build_emulated_bundle(
    models: list[CompiledModel], board_name: str, arena: str = "static", defines: tuple[str, ...] = ()
) -> EmulatedBundle:
    """One firmware holding every model (emit_bundle: one runtime copy), linked for the board's
    emulator, with the several-model semihosting main."""
    part = load_board(board_name)
    if part.family != "cortex-m" or part.emulator is None:
        raise ModelError(f"board {part.name}: several-model emulated runs need a Cortex-M board with an emulator")
    board = part.for_emulator()
    for tool in (board.cc, board.emulator.qemu):
        if shutil.which(tool) is None:
            raise ToolchainMissing(f"emulating {board.name} needs {tool}, which is not installed (see README: boards)")
    bundle = emit_bundle(models, BundleOptions(arena=arena, float_helpers=False))
    work = Path(tempfile.mkdtemp(prefix=f"edgeconv-bundle-{board.name}-"))
    try:
        # The files are the whole bundle; the report counts every model's arena and weights.
        files = EmittedModel(
            bundle.files,
            sum(e.flash_const_bytes for e in bundle.emitted.values()),
            sum(e.weights_bytes for e in bundle.emitted.values()),
            sum(e.program_memory_bytes for e in bundle.emitted.values()),
        )
        report = build_in_folder(
            work,
            board,
            models[0],
            files,
            main_text=multi_main_source(models, arena),
            defines=("-DEC_PROFILE", *defines),
            model_names=tuple(m.name for m in models),
        )
        check_emulator_fit(board, report.flash_bytes, report.ram_bytes, "+".join(m.name for m in models))
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return EmulatedBundle(board, models, bundle, work, report, sorted(bundle.files))
