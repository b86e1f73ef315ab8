"""A model as the API takes it: a .tflite path, or the file's bytes with a name. Commands that
compile one model (compile, inspect, build) and validate read it through here, so a path and
bytes give the same C."""

from __future__ import annotations

from pathlib import Path

from edgeconv.frontend.boards import Board
from edgeconv.frontend.names import check_name
from edgeconv.lowering import compiler
from edgeconv.lowering.compiler import CompiledModel

ModelInput = str | Path | bytes | bytearray | memoryview

# The name of a model given as bytes without one (a path's default is its stem).
DEFAULT_BYTES_NAME = "model"


def is_bytes(model: ModelInput) -> bool:
    return isinstance(model, (bytes, bytearray, memoryview))


def model_name(model: ModelInput, name: str | None) -> str | None:
    """The explicit name, checked; for bytes without one, DEFAULT_BYTES_NAME; else None (the
    compiler takes the file's stem)."""
    if name is not None:
        return check_name(name)
    return DEFAULT_BYTES_NAME if is_bytes(model) else None


def model_label(model: ModelInput, name: str | None) -> str:
    """What results call the model: the path as given, or the name of bytes."""
    return str(model_name(model, name)) if is_bytes(model) else str(model)


def protected_paths(model: ModelInput) -> tuple[Path, ...]:
    """Files no output may overwrite: the input model, when it is a file."""
    return () if is_bytes(model) else (Path(model),)


def compile_model(
    model: ModelInput,
    name: str | None = None,
    weights: str = "auto",
    board: Board | None = None,
    io_outside_arena: bool = False,
) -> CompiledModel:
    """compiler.compile_file for a path, compile_bytes for bytes (named `name` or "model")."""
    # Looked up in compiler at each call (not imported by name), so a test that replaces them
    # there reaches every command.
    if is_bytes(model):
        return compiler.compile_bytes(
            bytes(model), model_name(model, name), weights=weights, board=board, io_outside_arena=io_outside_arena
        )
    return compiler.compile_file(model, name=name, weights=weights, board=board, io_outside_arena=io_outside_arena)


def model_bytes(model: ModelInput) -> bytes:
    """The .tflite file's bytes: read from the path, or the bytes given."""
    return bytes(model) if is_bytes(model) else Path(model).read_bytes()
