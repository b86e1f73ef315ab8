"""Op lowerings, one module per op family; importing this package registers them all."""

from . import conv, pooling, reshape, softmax  # noqa: F401
from .base import LOWERINGS, Alias, CArray, Kernel, lower_op  # noqa: F401
