"""The benchmark's foreign-firmware counter agrees with the TFLite Micro anchors' own count."""

import json
from pathlib import Path

import pytest

from edgeconv.targets.emulate import count_semihosting_elf

ANCHORS = Path(__file__).resolve().parent.parent.parent / "shared" / "anchors" / "tflm-cortex-m4"


def test_anchor_elf_count_equals_results_json():
    elf = ANCHORS / "ad01_int8.cmsis_nn.elf"
    if not elf.exists():
        pytest.skip(f"the TFLite Micro anchors are not in {ANCHORS}")
    pytest.importorskip("unicorn")
    expected = json.loads((ANCHORS / "results.json").read_text())["models"]["ad01_int8"]["cmsis_nn"]
    c = count_semihosting_elf(elf, "cortex-m4")
    assert c.total == expected["instructions"] == 582_820  # BEGIN..END, the 9 marker instructions included
    assert c.exit_code == 0x20026
    assert c.text.startswith("MODEL ad01_int8\nARENA 2580\nBEGIN\nEND\nOUT 0 640 d908243b")
    assert c.text.endswith("DONE\n")
    assert c.per_mark == {0: c.total}


def test_cycle_model_costs_by_instruction_class():
    pytest.importorskip("capstone")  # in the test extra; skipped only outside it
    from edgeconv.targets.cycles import PIPELINE_REFILL, CycleModel

    m = CycleModel()
    # ldr r0,[r1] 2; muls r0,r1,r0 1; push {r4,r5,lr} 1+3; ldrd r2,r3,[r0] 3; smlad r0,r1,r2,r0 1; bx lr 1 (+P if taken)
    code = bytes.fromhex("0868484330b5d0e9002321fb02007047")
    cost = m.block(code, 0x1000)
    assert cost.cycles == 2 + 1 + 4 + 3 + 1 + 1 and cost.ends_in_branch
    assert PIPELINE_REFILL == 2
    assert m.block(bytes.fromhex("0120"), 0x1000).ends_in_branch is False  # movs r0,#1
