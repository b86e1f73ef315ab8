"""Estimated Cortex-M4 cycles for executed Thumb code (a cost model, not a measurement).

Each executed instruction is costed by its class from the Cortex-M4 Technical Reference
Manual's instruction timing table (section 3.3.1), assuming zero-wait-state memory, no
pipelining of neighbouring loads credited, and a pipeline refill P of 2 cycles (the TRM gives
1 to 3):

- loads and stores (LDR*, STR*, VLDR, VSTR, LDREX/STREX): 2;
- LDRD/STRD: 3 (1 + N, N = 2); LDM/STM/PUSH/POP, VLDM/VSTM/VPUSH/VPOP: 1 + N registers;
- multiplies and multiply-accumulates (MUL, MLA, MLS, SMULxy, SMLAxy, SMLAD, SMUAD, UMULL,
  SMLAL, ...): 1;  SDIV/UDIV: 12 (the TRM's worst case of 2-12);
- branches: 1 when not taken; taken: + P (B, BL, BX, BLX, CBZ/CBNZ; TBB/TBH 2 + P; a load or
  POP into PC + P);
- everything else (data processing, IT-skipped instructions, floating point): 1.

Costs are per executed instruction; "taken" is decided by the emulator from the next block's
address. edgeconv.targets.emulate applies it to the same region it counts instructions in.
"""

from __future__ import annotations

from dataclasses import dataclass

from edgeconv.frontend.ir import ModelError

PIPELINE_REFILL = 2
DIVIDE = 12

_MULTIPLY = {
    "mul",
    "mla",
    "mls",
    "smull",
    "umull",
    "smlal",
    "umlal",
    "umaal",
    "smmul",
    "smmla",
    "smmls",
    "smmulr",
    "smmlar",
    "smmlsr",
    "smulbb",
    "smulbt",
    "smultb",
    "smultt",
    "smulwb",
    "smulwt",
    "smlabb",
    "smlabt",
    "smlatb",
    "smlatt",
    "smlawb",
    "smlawt",
    "smlad",
    "smladx",
    "smlsd",
    "smlsdx",
    "smuad",
    "smuadx",
    "smusd",
    "smusdx",
    "smlald",
    "smlaldx",
    "smlsld",
    "smlsldx",
    "smlalbb",
    "smlalbt",
    "smlaltb",
    "smlaltt",
}
_BRANCH = {"b", "bl", "bx", "blx", "cbz", "cbnz"}
_TABLE_BRANCH = {"tbb", "tbh"}
_MULTI = {"ldm", "ldmdb", "stm", "stmdb", "push", "pop", "vldmia", "vldmdb", "vstmia", "vstmdb", "vpush", "vpop"}


@dataclass(frozen=True)
class BlockCost:
    cycles: int  # with every branch not taken
    ends_in_branch: bool  # its last instruction may transfer control (adds P when taken)


class CycleModel:
    """Costs translation blocks of Thumb code (cached by address and size)."""

    def __init__(self) -> None:
        try:
            import capstone
        except ImportError:
            raise ModelError("cycle estimates need the capstone package (pip install capstone)") from None
        self._cs = capstone.Cs(capstone.CS_ARCH_ARM, capstone.CS_MODE_THUMB | capstone.CS_MODE_MCLASS)
        self._cs.detail = True
        self._pc = capstone.arm_const.ARM_REG_PC
        self._reg = capstone.arm_const.ARM_OP_REG
        self.cache: dict[tuple[int, int], BlockCost] = {}

    def block(self, code: bytes, address: int) -> BlockCost:
        cycles, last_branch = 0, False
        for insn in self._cs.disasm(code, address):
            c, br = self.instruction(insn)
            cycles += c
            last_branch = br
        return BlockCost(cycles, last_branch)

    def instruction(self, insn) -> tuple[int, bool]:
        name = insn.insn_name()
        regs = [op.reg for op in insn.operands if op.type == self._reg]
        writes_pc = self._pc in regs[:1] or (name in ("pop", "ldm") and self._pc in regs)
        if name in _BRANCH:
            return 1, True
        if name in _TABLE_BRANCH:
            return 2, True
        if name in _MULTI:
            n = len(regs) - (0 if name in ("push", "pop", "vpush", "vpop") else 1)
            return 1 + max(n, 1), writes_pc
        if name in ("ldrd", "strd"):
            return 3, False
        if name.startswith(("ldr", "str", "vldr", "vstr", "ldrex", "strex")):
            return 2, writes_pc
        if name in _MULTIPLY:
            return 1, False
        if name in ("sdiv", "udiv"):
            return DIVIDE, False
        return 1, writes_pc and name == "mov"
