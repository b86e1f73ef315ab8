"""The check every fast-path test makes: the same firmware built twice for an emulated core,
with the DSP paths and with -DEC_NO_DSP (the portable C), gives identical outputs."""

import numpy as np

from edgeconv.compiler import CompiledModel
from edgeconv.emulate import build_emulated


def assert_dsp_equals_portable(model: CompiledModel, samples: list, board: str = "cortex-m4") -> None:
    results = []
    for defines in ((), ("-DEC_NO_DSP",)):
        fw = build_emulated(model, board, defines=defines)
        try:
            results.append(fw.run(samples))
        finally:
            fw.close()
    for dsp, portable in zip(*results):
        for a, b in zip(dsp, portable):
            np.testing.assert_array_equal(a, b)
