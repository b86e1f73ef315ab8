"""The element types: one table, every other mapping of a tensor type derived from it.

One ElementType per TFLite tensor type edgeconv reads: its numpy dtype (what the reader,
validation, the host build and the firmware runners convert with), its C type (what the emitter
and the lowerings write), its kernel entry-point suffix (ec_relu_s8), its byte size and range,
and the code the generated header gives it (`#define <MODEL>_INPUT0_TYPE EC_TYPE_INT8`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ElementType:
    name: str  # TFLite's type name, lower case: "int8"
    numpy: Any  # the numpy scalar type: np.int8
    ctype: str  # the C type: "int8_t"
    suffix: str  # the kernel entry-point suffix: ec_relu_s8
    code: int  # the generated header's type code, #define EC_TYPE_<NAME> <code>

    @property
    def size(self) -> int:
        """Bytes per element."""
        return int(np.dtype(self.numpy).itemsize)

    @property
    def is_integer(self) -> bool:
        return bool(np.issubdtype(np.dtype(self.numpy), np.integer))

    @property
    def min(self) -> int | float:
        if self.name == "bool":
            return 0
        return int(np.iinfo(self.numpy).min) if self.is_integer else float(np.finfo(self.numpy).min)

    @property
    def max(self) -> int | float:
        if self.name == "bool":
            return 1
        return int(np.iinfo(self.numpy).max) if self.is_integer else float(np.finfo(self.numpy).max)

    @property
    def macro(self) -> str:
        """The header's name of the type code: EC_TYPE_INT8."""
        return f"EC_TYPE_{self.name.upper()}"


ELEMENT_TYPES: dict[str, ElementType] = {
    t.name: t
    for t in (
        ElementType("int8", np.int8, "int8_t", "s8", 1),
        ElementType("uint8", np.uint8, "uint8_t", "u8", 2),
        ElementType("int16", np.int16, "int16_t", "s16", 3),
        ElementType("int32", np.int32, "int32_t", "s32", 4),
        ElementType("float32", np.float32, "float", "f32", 5),
        ElementType("int64", np.int64, "int64_t", "s64", 6),
        ElementType("bool", np.bool_, "uint8_t", "b", 7),
    )
}

# The C types of constant arrays that are no tensor's element type (lookup tables), with the
# element types' own, for CArray's byte size.
CTYPE_NUMPY: dict[str, Any] = {
    **{t.ctype: t.numpy for t in ELEMENT_TYPES.values() if t.name != "bool"},
    "uint16_t": np.uint16,
    "uint32_t": np.uint32,
}


def numpy_dtype(name: str) -> np.dtype:
    return np.dtype(ELEMENT_TYPES[name].numpy)


def dtype_size(name: str) -> int:
    return ELEMENT_TYPES[name].size
