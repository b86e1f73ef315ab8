"""Graph -> CompiledModel: the graph passes (`passes`, `float_islands`), one lowering per op family
(`ops/`: every constant computed at compile time, one C call described per op), the arena planner
(`planner`), and the pipeline that runs them (`compiler`, `modelsource`)."""
