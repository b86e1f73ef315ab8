"""Several compiled models -> one flat file set with ONE copy of the C runtime.

`emit_bundle(models, options)` is what `edgeconv compile a.tflite b.tflite -o out/` writes and
what the packaging formats (CMake, Zephyr, Arduino, PlatformIO) lay out: file name -> text.
Each model brings <name>.h/.c (and <name>_float.h/.c); the runtime files are the union of what
the models use, byte-identical whatever the model (emitter.runtime_version: every copy carries
the same version, which each model .c checks at C compile time). With arena "shared" the
models use one arena, ec_shared_arena (ec_shared_arena.h/.c, sized for the largest), and must
run one after another.

`runtime_conflicts` compares the runtime files with those already in a folder (`--runtime
DIR`): a file that differs is refused, a missing one is added.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from edgeconv.emit.emitter import (
    ARENA_MODES,
    SHARED_ARENA_NAME,
    EmittedModel,
    RuntimeVersion,
    c_header,
    emit,
    runtime_dir,
    runtime_version,
)
from edgeconv.frontend.ir import ModelError
from edgeconv.lowering.compiler import CompiledModel
from edgeconv.lowering.modelsource import ModelInput, compile_model, model_bytes, model_label, protected_paths
from edgeconv.version import __version__


@dataclass
class BundleOptions:
    arena: str = "static"  # static: each model its own arena; shared: ec_shared_arena; user: <name>_init(void *)
    float_helpers: bool = False  # <name>_float.h/.c beside each model (quantize/dequantize in float)
    expose_arena: bool = True  # <name>_arena_base() (validation reads intermediate tensors through it)
    labels: dict[str, list[str]] = field(default_factory=dict)  # model name -> class names


@dataclass
class EmittedBundle:
    model_files: dict[str, dict[str, str]]  # model name -> its own files (<name>.h/.c, <name>_float.h/.c)
    runtime_files: dict[str, str]  # the c_runtime files, one copy, the union of what the models use
    shared_files: dict[str, str]  # ec_shared_arena.h/.c with arena "shared", else empty
    emitted: dict[str, EmittedModel]  # model name -> what emit() reported (flash figures)
    runtime_version: RuntimeVersion
    arena: str
    shared_arena_bytes: int | None = None

    # Like model_only_files below plus the runtime's files; kept apart: each property is one small dict merge
    @property
    def files(self) -> dict[str, str]:
        """Every file, flat: the models', the shared arena's and the runtime's."""
        out: dict[str, str] = {}
        for files in self.model_files.values():
            out.update(files)
        out.update(self.shared_files)
        out.update(self.runtime_files)
        return dict(sorted(out.items()))

    # Like files above without the runtime's files; kept apart: each property is one small dict merge
    @property
    def model_only_files(self) -> dict[str, str]:
        """The files that belong with the models (not the runtime): models' and shared arena's."""
        out: dict[str, str] = {}
        for files in self.model_files.values():
            out.update(files)
        out.update(self.shared_files)
        return dict(sorted(out.items()))


def check_names(names: list[str]) -> None:
    """Two models with one name would define the same symbols: refused in one line."""
    seen: set[str] = set()
    runtime = {p.name.split(".")[0] for p in runtime_dir().iterdir()} | {SHARED_ARENA_NAME}
    for n in names:
        if n in seen:
            raise ModelError(f"two models are named {n!r}; give each its own --name (one per model, in order)")
        if n in runtime:
            raise ModelError(f"model name {n!r} is the name of an edgeconv runtime file; choose another")
        seen.add(n)
    lowered = {}
    for n in names:  # <NAME>_ macros and file names on case-insensitive file systems
        if n.upper() in lowered:
            raise ModelError(
                f"models {lowered[n.upper()]!r} and {n!r} differ only in case; their files and macros would collide"
            )
        lowered[n.upper()] = n


def emit_bundle(models: list[CompiledModel], options: BundleOptions | None = None) -> EmittedBundle:
    options = options or BundleOptions()
    if not models:
        raise ModelError("no model to compile")
    if options.arena not in ARENA_MODES:
        raise ModelError(f"arena {options.arena!r}: choose one of {', '.join(ARENA_MODES)}")
    check_names([m.name for m in models])
    version = runtime_version()
    model_files: dict[str, dict[str, str]] = {}
    runtime: dict[str, str] = {}
    emitted: dict[str, EmittedModel] = {}
    for m in models:
        e = emit(
            m,
            expose_arena=options.expose_arena,
            arena=options.arena,
            float_helpers=options.float_helpers,
            labels=options.labels.get(m.name),
            version=version,
        )
        own = {f"{m.name}.h", f"{m.name}.c", f"{m.name}_float.h", f"{m.name}_float.c"}
        model_files[m.name] = {k: v for k, v in e.files.items() if k in own}
        for k, v in e.files.items():
            if k not in own:
                assert runtime.get(k, v) == v, k  # runtime files are the same whatever the model
                runtime[k] = v
        emitted[m.name] = e
    shared: dict[str, str] = {}
    size = None
    if options.arena == "shared":
        size = max(max(m.plan.size, 1) for m in models)
        shared = shared_arena_files(models, size)
    return EmittedBundle(model_files, dict(sorted(runtime.items())), shared, emitted, version, options.arena, size)


def shared_arena_files(models: list[CompiledModel], size: int) -> dict[str, str]:
    names = ", ".join(m.name for m in models)
    guard = "EC_SHARED_ARENA_H"
    h = c_header(
        [
            f"/* {SHARED_ARENA_NAME}.h: generated by edgeconv {__version__}; do not edit.",
            f" * One arena for the models compiled together with --shared-arena: {names}.",
            " * Its size is the largest of theirs. The models must run one after another: write a",
            " * model's inputs after the previous model's invoke, read its outputs before the next",
            " * model's invoke. The arena is placed by EC_ARENA_SECTION (ec_common.h). */",
        ],
        guard,
        "<stdint.h>",
        [
            f"#define EC_SHARED_ARENA_SIZE {size} /* bytes */",
            "",
            "/* A union with int64_t keeps it aligned without compiler extensions. */",
            "/* cppcheck-suppress unusedStructMember */",
            "extern union ec_shared_arena_u { uint8_t bytes[EC_SHARED_ARENA_SIZE]; int64_t align; } "
            f"{SHARED_ARENA_NAME};",
        ],
    )
    c = "\n".join(
        [
            f"/* {SHARED_ARENA_NAME}.c: generated by edgeconv {__version__}; do not edit. */",
            f'#include "{SHARED_ARENA_NAME}.h"',
            '#include "ec_common.h"',
            "",
            f"union ec_shared_arena_u {SHARED_ARENA_NAME} EC_ARENA_SECTION EC_ALIGN(16);",
            "",
        ]
    )
    return {f"{SHARED_ARENA_NAME}.h": h, f"{SHARED_ARENA_NAME}.c": c}


def runtime_conflicts(folder: Path, runtime: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """Against a runtime folder: the files to add (missing there) and the names of those that
    are there with other content (another runtime version, or edited)."""
    missing: dict[str, str] = {}
    differ: list[str] = []
    for name, text in runtime.items():
        path = folder / name
        if not path.exists():
            missing[name] = text
        elif not path.is_file() or path.read_bytes() != text.encode():
            differ.append(name)
    return missing, differ


def check_runtime_folder(folder: Path, bundle: EmittedBundle) -> dict[str, str]:
    """The runtime files to write into `folder` (those missing); refuses, in one line, a
    runtime file there that differs from this edgeconv's."""
    missing, differ = runtime_conflicts(folder, bundle.runtime_files)
    if differ:
        found = _version_in(folder / "ec_common.h")
        raise ModelError(
            f"{folder}: runtime file {differ[0]} differs from edgeconv runtime "
            f"{bundle.runtime_version.text}{f' (the folder holds runtime {found})' if found else ''}"
            f"{f' and {len(differ) - 1} more' if len(differ) > 1 else ''}; "
            "use another --runtime folder or recompile every model sharing it"
        )
    return missing


def _version_in(path: Path) -> str | None:
    import re

    try:
        m = re.search(r'#define EC_RUNTIME_VERSION "([^"]*)"', path.read_text())
    except (OSError, UnicodeDecodeError):
        return None
    return m.group(1) if m else None


@dataclass
class BundleResult:
    """What `edgeconv compile` with several models (or a bundle option) did; to_dict is --json."""

    output_dir: str
    runtime_dir: str
    runtime_version: str
    arena: str
    shared_arena_bytes: int | None
    files: list[str]  # written into output_dir
    runtime_files_added: list[str]  # written into runtime_dir (all of them when it is output_dir)
    models: list[dict]
    compiled: list[CompiledModel] = field(default_factory=list, repr=False)
    bundle: EmittedBundle | None = field(default=None, repr=False)

    def to_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k not in ("compiled", "bundle")}


@dataclass
class CompiledBundle:
    """Several .tflite files compiled and emitted together (what `compile` and `compile --format`
    share before they publish)."""

    models: list[ModelInput]  # .tflite paths or bytes, as given
    compiled: list[CompiledModel]
    labels: dict[str, list[str]]  # model name -> class names stored in its file
    bundle: EmittedBundle

    @property
    def job(self) -> str:
        """The outputs manifest's job name for these models."""
        return "compile:" + "+".join(sorted(c.name for c in self.compiled))

    def summaries(self) -> list[dict]:
        """Per model, for --json: the figures `compile` reports for one model."""
        return _summaries(
            self.compiled,
            [model_label(m, c.name) for m, c in zip(self.models, self.compiled)],
            self.bundle,
            self.labels,
        )

    @property
    def protected(self) -> tuple[Path, ...]:
        """The input files, which no output may overwrite."""
        return tuple(p for m in self.models for p in protected_paths(m))


def compile_bundle(
    models: list[ModelInput],
    names: list[str] | None = None,
    arena: str = "static",
    io_outside_arena: bool = False,
    float_helpers: bool = False,
    weights: str = "auto",
) -> CompiledBundle:
    """Compile each model (a .tflite path or its bytes; `names`, one per model in order,
    override the file stems and name bytes), read the class names stored in each, and emit them
    together (emit_bundle)."""
    from edgeconv.frontend.labels import read_labels

    names = list(names or [])
    if len(names) > len(models):
        raise ModelError(f"{len(names)} names given for {len(models)} models; give one --name per model, in order")
    from edgeconv.progress import track

    compiled = [
        compile_model(m, name=names[i] if i < len(names) else None, weights=weights, io_outside_arena=io_outside_arena)
        for i, m in enumerate(track(models, f"Compiling {len(models)} models"))
    ]
    labels = {c.name: lbl for c, m in zip(compiled, models) if (lbl := read_labels(model_bytes(m))) is not None}
    bundle = emit_bundle(compiled, BundleOptions(arena=arena, float_helpers=float_helpers, labels=labels))
    return CompiledBundle(list(models), compiled, labels, bundle)


# Same parameters as emit/packaging.py's compile_package (which adds fmt and package_name); kept apart: each is one
# command's public signature
def compile_models(
    models: list[ModelInput],
    out_dir: str | Path | None,
    names: list[str] | None = None,
    runtime: str | Path | None = None,
    arena: str = "static",
    io_outside_arena: bool = False,
    float_helpers: bool = False,
    force: bool = False,
    weights: str = "auto",
) -> BundleResult:
    """Compile several .tflite files (paths or bytes) into one folder with one runtime copy (see emit_bundle).
    `names` (one per model, in order) overrides the file stems. `runtime`: a folder for the
    runtime files (default out_dir); one that holds a runtime already gets only the files it
    lacks, and a file there that differs is refused. Publishing goes through outputs.py; with
    out_dir None nothing is written (the result's `bundle` holds the files)."""
    from edgeconv.outputs import FolderWrite, publish, text_files, tree_writes

    made = compile_bundle(models, names, arena, io_outside_arena, float_helpers, weights)
    compiled, bundle = made.compiled, made.bundle
    if out_dir is None:
        return BundleResult(
            "",
            "",
            bundle.runtime_version.text,
            arena,
            bundle.shared_arena_bytes,
            sorted(bundle.files),
            [],
            made.summaries(),
            compiled,
            bundle,
        )
    out = Path(out_dir)
    rt = Path(runtime) if runtime is not None else out
    job = made.job
    own = bundle.model_only_files
    if rt.absolute() == out.absolute() and runtime is None:
        writes = tree_writes(out, job, text_files({**own, **bundle.runtime_files}))
        added = sorted(bundle.runtime_files)
    else:
        if rt.exists() and not rt.is_dir():
            raise ModelError(f"--runtime {rt} exists and is not a folder")
        missing = check_runtime_folder(rt, bundle) if rt.is_dir() else dict(bundle.runtime_files)
        if rt.absolute() == out.absolute():
            writes = tree_writes(out, job, text_files({**own, **missing}))
        else:
            writes = tree_writes(out, job, text_files(own))
            if missing:
                writes.append(FolderWrite(rt, "runtime", text_files(missing)))
        added = sorted(missing)
    publish(writes, force=force, protected=made.protected)
    return BundleResult(
        str(out),
        str(rt),
        bundle.runtime_version.text,
        arena,
        bundle.shared_arena_bytes,
        sorted(writes[0].files),
        added,
        made.summaries(),
        compiled,
        bundle,
    )


def _summaries(
    compiled: list[CompiledModel], labels_of_models: list[str], bundle: EmittedBundle, labels: dict[str, list[str]]
) -> list[dict]:
    """Per model, for --json: the figures `compile` reports for one model."""
    out = []
    for c, label in zip(compiled, labels_of_models):
        e = bundle.emitted[c.name]
        out.append(
            {
                "model": label,
                "name": c.name,
                "ram_bytes": c.ram_bytes,
                "arena_bytes": c.plan.size,
                "arena_lower_bound": c.plan.lower_bound,
                "flash_bytes": e.flash_const_bytes,
                "weights_bytes": e.weights_bytes,
                "macs": c.macs,
                "kernels": len(c.steps),
                "labels": len(labels.get(c.name, [])),
            }
        )
    return out
