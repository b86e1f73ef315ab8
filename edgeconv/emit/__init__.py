"""CompiledModel -> files: the C of one model (`emitter`), several models with one runtime (`bundle`),
and build-system packages (`packaging`). Nothing here writes: `edgeconv.outputs` does."""
