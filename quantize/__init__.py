"""Quantization: fixed-point helpers (compile-time), calibration and post-training quantization."""
