"""compiler.choose_weight_forms: int8 / int16 / auto per layer, within a flash budget."""

import numpy as np
import pytest

from edgeconv.frontend.ir import ModelError, Op
from edgeconv.lowering.compiler import (
    AUTO_MIN_SAVED_PER_BYTE,
    CODE_ALLOWANCE_BYTES,
    FLASH_RESERVE_FRACTION,
    Step,
    apply_weight_form,
    choose_weight_forms,
)
from edgeconv.lowering.ops.base import CArray, Kernel, WeightForm


def _kernel(n_weights: int, saved: int, offers: bool = True) -> Kernel:
    w = CArray("int8_t", np.ones(n_weights, dtype=np.int8), "weights")
    forms = (
        [
            WeightForm(
                "int16",
                {"weights": None, "weights16": CArray("int16_t", np.ones(n_weights, np.int16), "weights")},
                extra_flash_bytes=n_weights,
                instructions_saved=saved,
            )
        ]
        if offers
        else []
    )
    return Kernel("ec_x", "ec_x", "ec_x_params_t", {"n": n_weights, "weights": w}, [0], [1], weight_forms=forms)


def _steps(*kernels: Kernel) -> list[Step]:
    return [Step(Op(i, "CONV_2D", [0], [1], {}), k) for i, k in enumerate(kernels)]


def test_apply_weight_form_replaces_and_removes_fields():
    k = _kernel(10, 100)
    k16 = apply_weight_form(k, k.weight_forms[0])
    assert k16.params["weights"] is None and k16.params["weights16"].ctype == "int16_t"
    assert k16.params["n"] == 10 and k16.weight_form == "int16"
    assert k.weight_form == "int8" and "weights" in k.params  # the original is untouched


def test_int8_and_int16_force_every_offering_layer():
    steps = _steps(_kernel(100, 10), _kernel(50, 5000), _kernel(7, 0, offers=False))
    c8 = choose_weight_forms(steps, "int8", None, 0)
    assert c8.chosen == {0: "int8", 1: "int8"} and c8.extra_flash_bytes == 0
    c16 = choose_weight_forms(steps, "int16", None, 0)
    assert c16.chosen == {0: "int16", 1: "int16"}
    assert (c16.extra_flash_bytes, c16.instructions_saved) == (150, 5010)
    assert c16.kernels[2] is steps[2].kernel


def test_auto_without_a_board_takes_only_what_pays_well():
    # 5000 saved for 50 bytes pays; 10 for 100 does not
    steps = _steps(_kernel(100, 10), _kernel(50, 5000))
    c = choose_weight_forms(steps, "auto", None, 0)
    assert c.chosen == {0: "int8", 1: "int16"} and c.budget_bytes is None
    assert 5000 / 50 >= AUTO_MIN_SAVED_PER_BYTE > 10 / 100


def test_auto_with_a_board_fills_the_budget_best_ratio_first():
    flash = 200_000
    base = 10_000
    budget = int(flash * (1 - FLASH_RESERVE_FRACTION)) - base - CODE_ALLOWANCE_BYTES
    big_low = _kernel(budget - 1000, budget)  # ratio ~1
    small_high = _kernel(2000, 200_000)  # ratio 100: taken first
    steps = _steps(big_low, small_high)
    c = choose_weight_forms(steps, "auto", flash, base)
    assert c.budget_bytes == budget
    assert c.chosen == {0: "int8", 1: "int16"}  # the big one no longer fits after the small one
    assert c.extra_flash_bytes <= budget
    # with room for both, both are taken (any saving is worth free flash)
    c2 = choose_weight_forms(steps, "auto", 10 * flash, base)
    assert c2.chosen == {0: "int16", 1: "int16"}


def test_unknown_mode_is_refused():
    with pytest.raises(ModelError, match="int8, int16, auto"):
        choose_weight_forms([], "int4", None, 0)


def test_auto_keeps_int8_on_a_core_without_dsp():
    steps = _steps(_kernel(50, 5000))
    c = choose_weight_forms(steps, "auto", 1 << 20, 0, dsp=False)
    assert c.chosen == {0: "int8"} and "no DSP" in c.summary()
    assert choose_weight_forms(steps, "int16", 1 << 20, 0, dsp=False).chosen == {0: "int16"}  # asked for


def test_board_dsp_from_mcpu():
    from edgeconv.frontend.boards import load_board

    assert [load_board(b).has_dsp for b in ("cortex-m0plus", "cortex-m4", "cortex-m7", "cortex-m33", "riscv32")] == [
        False,
        True,
        True,
        True,
        False,
    ]


def test_a_form_may_name_its_own_entry_point():
    k = _kernel(10, 100)
    k.weight_forms[0].func = "ec_x_w16"
    assert apply_weight_form(k, k.weight_forms[0]).func == "ec_x_w16"
    assert k.func == "ec_x"
