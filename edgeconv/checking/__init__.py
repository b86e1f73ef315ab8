"""Checking against the references: TFLite Micro and TFLite's reference kernels in worker processes
(`references`, `reference_worker`), op by op where the whole model cannot run (`op_oracle`), and
bit-exactness of the C (`validation`)."""
