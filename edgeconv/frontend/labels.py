"""Class names carried inside a .tflite: one metadata entry, LABELS_METADATA, whose buffer is
a JSON list of strings. `edgeconv quantize` writes it from the training data's class names
(edgeconv train records them beside the .keras model); the emitter turns it into
<NAME>_NUM_LABELS and <name>_labels[]. TFLite and TFLite Micro ignore metadata they do not
know, so the model runs unchanged."""

from __future__ import annotations

import json

LABELS_METADATA = "edgeconv_labels"


def add_labels(model_bytes: bytes, names: list[str]) -> bytes:
    """The model with its LABELS_METADATA entry set to `names` (replacing an earlier one)."""
    import flatbuffers
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromPackedBuf(model_bytes, 0)
    buf = schema.BufferT()
    buf.data = list(json.dumps([str(n) for n in names], ensure_ascii=False).encode("utf-8"))
    model.buffers = list(model.buffers or [])
    entries = [m for m in (model.metadata or []) if _text(m.name) != LABELS_METADATA]
    meta = schema.MetadataT()
    meta.name = LABELS_METADATA
    meta.buffer = len(model.buffers)
    model.buffers.append(buf)
    model.metadata = entries + [meta]
    builder = flatbuffers.Builder(len(model_bytes) + 1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def read_labels(model_bytes: bytes) -> list[str] | None:
    """The class names the model carries, or None (no entry, or one that is not a JSON list of
    strings: labels are a convenience, never a reason to refuse a model)."""
    from tflite.Model import Model

    try:
        model = Model.GetRootAsModel(model_bytes, 0)
        for i in range(model.MetadataLength()):
            entry = model.Metadata(i)
            if _text(entry.Name()) != LABELS_METADATA:
                continue
            buf = model.Buffers(entry.Buffer())
            names = json.loads(bytes(buf.DataAsNumpy()).decode("utf-8"))
            if isinstance(names, list) and all(isinstance(n, str) for n in names):
                return names
    except Exception:  # a damaged or foreign entry: no labels
        return None
    return None


def _text(name) -> str:
    return name.decode("utf-8", "replace") if isinstance(name, bytes) else str(name or "")
