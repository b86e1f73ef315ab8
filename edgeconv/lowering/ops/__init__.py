"""Op lowerings, one module per op family; importing this package registers them all.

Every module in this package is imported here, so adding an op family means adding a module
with `@lowering("OPCODE")` functions (see base.py for the contract) and nothing else.
"""

import importlib
import pkgutil

from edgeconv.lowering.ops.base import LOWERINGS, Alias, CArray, Kernel, lower_op  # noqa: F401

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name != "base":
        importlib.import_module(f"{__name__}.{_info.name}")
