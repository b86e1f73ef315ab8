"""Packages: the generated C laid out for the build system a firmware already has.

`compile --format plain|cmake|zephyr|arduino|platformio`. The input is the flat file set that
`compile` writes (each model's `<name>.h`/`<name>.c` and the `ec_*` runtime files; one model or
several sharing one runtime copy) plus, per model, what its inputs and outputs are (`ModelInfo`,
for the examples). Each format has one generator, `package_<format>`, that renders the Jinja2
templates in `edgeconv/templates/<format>/` and returns relative path -> text (folders written
with '/'). `publish_package` writes that through `outputs.publish`, one FolderWrite per folder,
all or nothing.

Layout shared by cmake, zephyr and platformio: `include/` holds the model headers and whatever
they include (the public interface), `src/` everything else. Arduino wants every file in `src/`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2

from edgeconv.frontend.boards import Board, list_boards, load_board
from edgeconv.frontend.dtypes import ELEMENT_TYPES
from edgeconv.frontend.ir import ModelError
from edgeconv.frontend.names import MAX_NAME_LENGTH, RUNTIME_PREFIX, is_identifier, suggest
from edgeconv.lowering.compiler import CompiledModel
from edgeconv.lowering.modelsource import ModelInput
from edgeconv.outputs import publish, text_files, tree_writes
from edgeconv.version import __version__

FORMATS = ("plain", "cmake", "zephyr", "arduino", "platformio")
DEFAULT_BUNDLE_NAME = "models"  # the package's name when several models share it
# library.properties must name a web page (Arduino's library specification); the project's.
PROJECT_URL = "https://pypi.org/project/edgeconv/"
KEYWORDS = ("tinyml", "cnn", "tflite", "neural-network", "int8", "edgeconv")

_INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
# Board flags that describe the target (kept in a CMake toolchain file) are everything but the
# language, warning, optimisation and debug choices, which belong to the project's build.
_PROJECT_FLAG_PREFIXES = ("-std=", "-W", "-pedantic", "-O", "-g")
_PROCESSORS = {"cortex-m": "arm", "riscv": "riscv32", "avr": "avr"}


@dataclass(frozen=True)
class TensorInfo:
    """One graph input or output, as an example program fills or prints it."""

    ctype: str  # int8_t, uint8_t, int16_t, int32_t, float ...
    zero_point: int  # 0 where the tensor is not quantized

    @property
    def is_float(self) -> bool:
        return self.ctype == "float"


@dataclass(frozen=True)
class ModelInfo:
    name: str  # the model's C name: <name>.h, <name>_invoke(), <NAME>_ macros
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    user_arena: bool = False  # compiled with --arena user: <name>_init(buffer) comes first

    @property
    def macro(self) -> str:
        return self.name.upper()


def model_info(model: CompiledModel, arena: str = "static") -> ModelInfo:
    """What an example needs to know of a compiled model; `arena` as given to the emitter."""
    g = model.graph

    def info(t: int) -> TensorInfo:
        tensor = g.tensors[t]
        return TensorInfo(ELEMENT_TYPES[tensor.dtype].ctype, tensor.quant.zp if tensor.quant is not None else 0)

    return ModelInfo(
        model.name, tuple(info(t) for t in g.inputs), tuple(info(t) for t in g.outputs), user_arena=arena == "user"
    )


@dataclass(frozen=True)
class Layout:
    """The flat file set split into the public interface and the rest."""

    public: tuple[str, ...]  # the models' headers and the headers they include, transitively
    private_headers: tuple[str, ...]
    sources: tuple[str, ...]  # .c files


def split_files(files: dict[str, str], models: list[ModelInfo]) -> Layout:
    for name in files:
        if "/" in name or "\\" in name:
            raise ValueError(f"{name!r}: the file set must be flat")
    missing = [f"{m.name}.h" for m in models if f"{m.name}.h" not in files]
    if missing:
        raise ValueError(f"{', '.join(missing)}: not in the generated files")
    # The models' headers and their helpers' (<name>_float.h): everything not the runtime's.
    wanted = sorted(f for f in files if f.endswith(".h") and not f.startswith(RUNTIME_PREFIX))
    public: list[str] = []
    while wanted:
        fname = wanted.pop(0)
        if fname in public:
            continue
        if fname not in files:
            raise ValueError(f"{fname} is not in the generated files")
        public.append(fname)
        wanted += [inc for inc in _INCLUDE.findall(files[fname]) if inc in files]
    rest = sorted(set(files) - set(public))
    return Layout(
        tuple(sorted(public)),
        tuple(f for f in rest if not f.endswith(".c")),
        tuple(f for f in rest if f.endswith(".c")),
    )


def check_package_name(name: str) -> str:
    """--package-name names the CMake target, the Zephyr module and its Kconfig symbol, the
    Arduino and PlatformIO library: a C identifier keeps it valid in all of them."""
    if not is_identifier(name) or len(name) > MAX_NAME_LENGTH:
        shown, hint = name[:MAX_NAME_LENGTH], suggest(name)[:MAX_NAME_LENGTH]
        raise ModelError(
            f"--package-name {shown!r} is not a C identifier of at most {MAX_NAME_LENGTH} characters "
            f"(letters, digits and _, not starting with a digit); try {hint}"
        )
    return name


def _cmake_quote(text: str) -> str:
    """Text inside a CMake quoted argument: backslash, quote and variable references escaped."""
    return re.sub(r'([\\"$;])', r"\\\1", text)


def _one_line(text: str) -> str:
    """Text from a board file (description, part) for a comment: one line, no control characters."""
    return " ".join("".join(c if c.isprintable() else " " for c in text).split())


# Like reports/evaluate.py's environment, but for C/text templates: no autoescape (evaluate.py's writes HTML)
_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("edgeconv", "templates"),
    undefined=jinja2.StrictUndefined,
    keep_trailing_newline=True,
    trim_blocks=True,
    lstrip_blocks=True,
    autoescape=False,  # C, CMake, YAML, properties: nothing here is HTML
)
_ENV.filters["cmake_quote"] = _cmake_quote
_ENV.filters["one_line"] = _one_line


def _render(template: str, **context) -> str:
    return _ENV.get_template(template).render(version=__version__, **context)


def _describe(models: list[ModelInfo]) -> str:
    names = ", ".join(m.name for m in models)
    plural = "s" if len(models) > 1 else ""
    return f"Quantized CNN{plural} {names} as dependency-free C99, generated by edgeconv {__version__}"


def _split_layout(files: dict[str, str], layout: Layout) -> dict[str, str]:
    out = {f"include/{f}": files[f] for f in layout.public}
    out.update({f"src/{f}": files[f] for f in layout.private_headers + layout.sources})
    return out


def toolchain_boards() -> list[Board]:
    """The built-in board profiles a CMake toolchain file is written for: every cross target."""
    return [b for b in (load_board(n) for n in list_boards()) if b.family != "host"]


def toolchain_file(board: Board) -> str:
    flags = [f for f in board.cflags if not f.startswith(_PROJECT_FLAG_PREFIXES)]
    return _render(
        "cmake/toolchain.cmake.j2",
        board=board,
        flags=" ".join(flags),
        processor=_PROCESSORS.get(board.family, board.family),
    )


def package_plain(files: dict[str, str], models: list[ModelInfo], name: str) -> dict[str, str]:
    return dict(files)


def package_cmake(
    files: dict[str, str], models: list[ModelInfo], name: str, boards: list[Board] | None = None
) -> dict[str, str]:
    layout = split_files(files, models)
    out = _split_layout(files, layout)
    out["CMakeLists.txt"] = _render(
        "cmake/CMakeLists.txt.j2",
        name=name,
        NAME=name.upper(),
        models=models,
        sources=layout.sources,
        description=_describe(models),
    )
    for board in toolchain_boards() if boards is None else boards:
        out[f"cmake/{board.name}.cmake"] = toolchain_file(board)
    return out


def package_zephyr(files: dict[str, str], models: list[ModelInfo], name: str) -> dict[str, str]:
    layout = split_files(files, models)
    out = _split_layout(files, layout)
    context = dict(
        name=name, symbol=kconfig_symbol(name), models=models, sources=layout.sources, description=_describe(models)
    )
    out["zephyr/module.yml"] = _render("zephyr/module.yml.j2", **context)
    out["CMakeLists.txt"] = _render("zephyr/CMakeLists.txt.j2", **context)
    out["Kconfig"] = _render("zephyr/Kconfig.j2", **context)
    return out


def kconfig_symbol(name: str) -> str:
    return f"EDGECONV_{name.upper()}"


def package_arduino(files: dict[str, str], models: list[ModelInfo], name: str) -> dict[str, str]:
    split_files(files, models)  # checks every model header is there
    out = {f"src/{f}": text for f, text in files.items()}
    out["library.properties"] = _render(
        "arduino/library.properties.j2",
        name=name,
        models=models,
        description=_describe(models),
        url=PROJECT_URL,
        includes=",".join(f"{m.name}.h" for m in models),
    )
    for m in models:
        out[f"examples/{m.name}/{m.name}.ino"] = _render("arduino/example.ino.j2", m=m)
    return out


def package_platformio(files: dict[str, str], models: list[ModelInfo], name: str) -> dict[str, str]:
    out = _split_layout(files, split_files(files, models))
    out["library.json"] = _render(
        "platformio/library.json.j2", name=name, description=_describe(models), keywords=list(KEYWORDS)
    )
    return out


def package_files(fmt: str, files: dict[str, str], models: list[ModelInfo], name: str | None = None) -> dict[str, str]:
    """The package of `fmt` for the flat file set `files` of `models`: relative path -> text.
    `name` names the library (CMake target, Arduino/PlatformIO library, Zephyr module); by
    default the model's name, or `models` for several."""
    if fmt not in FORMATS:
        raise ModelError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if not models:
        raise ValueError("a package needs at least one model")
    if name is None:
        name = models[0].name if len(models) == 1 else DEFAULT_BUNDLE_NAME
    else:
        check_package_name(name)
    generator = {
        "plain": package_plain,
        "cmake": package_cmake,
        "zephyr": package_zephyr,
        "arduino": package_arduino,
        "platformio": package_platformio,
    }[fmt]
    return generator(files, models, name)


def publish_package(
    out_dir: Path | str, job: str, package: dict[str, str], force: bool = False, protected: tuple[Path | str, ...] = ()
) -> list[Path]:
    return publish(tree_writes(Path(out_dir), job, text_files(package)), force=force, protected=protected)


@dataclass
class PackageResult:
    """What `edgeconv compile --format` (not plain) wrote; to_dict is its --json."""

    output_dir: str
    format: str
    package: str  # the library's name
    files: list[str]  # paths inside output_dir
    runtime_version: str
    arena: str
    models: list[dict]

    def to_dict(self) -> dict:
        return dict(self.__dict__)


# Same parameters as emit/bundle.py's compile_models plus fmt and package_name; kept apart: each is one command's
# public signature
def compile_package(
    models: list[ModelInput],
    out_dir: str | Path,
    fmt: str,
    names: list[str] | None = None,
    package_name: str | None = None,
    arena: str = "static",
    io_outside_arena: bool = False,
    float_helpers: bool = False,
    force: bool = False,
    weights: str = "auto",
) -> PackageResult:
    """Compile .tflite files (paths or bytes; one runtime copy, as bundle.emit_bundle makes it) into a package of
    `fmt` in `out_dir`, written all or nothing through outputs.publish."""
    from edgeconv.emit.bundle import compile_bundle

    if fmt not in FORMATS:
        raise ModelError(f"unknown format {fmt!r} (known: {', '.join(FORMATS)})")
    if package_name is not None:
        check_package_name(package_name)
    made = compile_bundle(models, names, arena, io_outside_arena, float_helpers, weights)
    compiled, bundle = made.compiled, made.bundle
    infos = [model_info(c, arena) for c in compiled]
    package = package_files(fmt, bundle.files, infos, name=package_name)
    publish_package(Path(out_dir), made.job, package, force=force, protected=made.protected)
    name = package_name or (compiled[0].name if len(compiled) == 1 else DEFAULT_BUNDLE_NAME)
    summaries = made.summaries()
    return PackageResult(str(out_dir), fmt, name, sorted(package), bundle.runtime_version.text, arena, summaries)
