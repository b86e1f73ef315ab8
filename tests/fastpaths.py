"""The check every fast-path test makes: the same firmware built twice for an emulated core,
with the DSP paths and with -DEC_NO_DSP (the portable C), gives identical outputs."""

import numpy as np

from edgeconv.lowering.compiler import CompiledModel
from edgeconv.targets.emulate import build_emulated


def assert_dsp_equals_portable(model: CompiledModel, samples: list, board: str = "cortex-m4") -> None:
    results = []
    # test_depthwise_fast.py's entry-point test runs a loop like this, but over forced entry points, not defines
    for defines in ((), ("-DEC_NO_DSP",)):
        fw = build_emulated(model, board, defines=defines)
        try:
            results.append(fw.run(samples))
        finally:
            fw.close()
    for dsp, portable in zip(*results):
        for a, b in zip(dsp, portable):
            np.testing.assert_array_equal(a, b)


def branches_model(branch, specs: list[dict], seed: int) -> bytes:
    """One .tflite holding an independent op per spec (each its own input and output), so a
    single firmware build checks them all; `branch(net, rng, prefix, **spec)` adds one and
    returns its (input, output) tensor indices."""
    from mutants import Net

    rng = np.random.default_rng(seed)
    n = Net()
    ins, outs = [], []
    for i, spec in enumerate(specs):
        x, y = branch(n, rng, f"b{i}", **spec)
        ins.append(x)
        outs.append(y)
    return n.finish(ins, outs)
