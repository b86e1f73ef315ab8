"""The one element-type table (edgeconv/frontend/dtypes.py) and what is derived from it."""

import numpy as np

from edgeconv.frontend.dtypes import CTYPE_NUMPY, ELEMENT_TYPES
from edgeconv.lowering.ops.base import DTYPE_SUFFIX, qrange


def test_table_is_consistent_and_everything_else_derives_from_it():
    assert len({t.code for t in ELEMENT_TYPES.values()}) == len(ELEMENT_TYPES)
    assert len({t.suffix for t in ELEMENT_TYPES.values()}) == len(ELEMENT_TYPES)
    for name, t in ELEMENT_TYPES.items():
        assert t.name == name and t.macro == f"EC_TYPE_{name.upper()}"
        assert np.dtype(CTYPE_NUMPY[t.ctype]).itemsize == t.size == np.dtype(t.numpy).itemsize
        assert DTYPE_SUFFIX[name] == t.suffix
    assert (ELEMENT_TYPES["bool"].min, ELEMENT_TYPES["bool"].max) == (0, 1)
    assert qrange("int8") == (-128, 127) and qrange("int16") == (-32768, 32767)
    assert ELEMENT_TYPES["float32"].ctype == "float" and not ELEMENT_TYPES["float32"].is_integer
