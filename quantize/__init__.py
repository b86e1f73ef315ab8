"""Quantization, the lowest layer (it imports nothing from edgeconv): TFLite's fixed-point
arithmetic computed at compile time (`fixedpoint`, used by the lowerings) and post-training
quantization of a Keras model with the TFLite converter (`ptq`, used by `edgeconv quantize`)."""
