"""edgeconv: compile int8 TFLite CNNs into dependency-free, bit-exact C99."""

__version__ = "0.1.0"
