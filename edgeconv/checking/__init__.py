"""Checking against the references: TFLite Micro and TFLite's reference kernels in worker processes
(`references`, `reference_worker`), op by op where the whole model cannot run (`op_oracle`),
bit-exactness of the C (`validation`), and the quantization error per layer against the float model
(`quanterror`: `edgeconv quantize` and `report --float`)."""
