"""Packages (`compile --format`): each format built or checked the way its build system would.

- cmake: the library configured and built by CMake for the host (gcc) and, with the toolchain
  files edgeconv writes from the board profiles, for Cortex-M4, RV32IMC and the ATmega2560
  (16-bit int); the host library linked into a program whose outputs equal the validated
  cffi host build's, and for kws_ref_model TFLite Micro's.
- zephyr: structure only (Zephyr's SDK is not installable here): module.yml's keys, every
  listed source exists, the Kconfig (parsed by kconfiglib, Zephyr's own parser) defines the
  symbol the CMake guard tests.
- arduino: compiled as an Arduino core does, without arduino-builder: src/*.c as C
  (-std=gnu11) with avr-gcc -mmcu=atmega2560 and arm-none-eabi-gcc -mcpu=cortex-m4, the
  example sketch wrapped as C++ (`#include <Arduino.h>` prepended) with avr-g++ against
  Debian's arduino-core-avr headers (Mega variant), linked with that core and run under
  simavr (the UART prints what the validated host build computes), and with
  arm-none-eabi-g++ against tests/arduino_stub/Arduino.h; the sketch run on the host with
  the stub's stdout Serial prints the same.
- platformio: library.json validated by PlatformIO's own manifest parser and schema.
Two tiny models (a CONV_2D and a FULLY_CONNECTED from tests/mutants.py) share one runtime copy
in every package, as several models compiled together do.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

import mutants
from conftest import assert_refused, run_cli
from edgeconv.cli import PACKAGE_FORMATS
from edgeconv.emit.emitter import emit
from edgeconv.emit.packaging import (
    FORMATS,
    compile_package,
    kconfig_symbol,
    model_info,
    package_files,
    publish_package,
    toolchain_boards,
)
from edgeconv.lowering.compiler import compile_bytes, compile_file
from edgeconv.outputs import OutputError
from edgeconv.targets.hostbuild import build_and_load

STUB = Path(__file__).resolve().parents[1] / "arduino_stub"
ARDUINO_AVR = Path("/usr/share/arduino/hardware/arduino/avr")
WARNINGS = ["-Wall", "-Wextra", "-Werror"]


def need(*tools: str) -> None:
    missing = [t for t in tools if shutil.which(t) is None and not Path(t).exists()]
    if missing:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{', '.join(missing)} missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{', '.join(missing)} not installed")


def run(cmd: list[str], cwd: Path | None = None) -> str:
    proc = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc.stdout


@pytest.fixture(scope="module")
def bundle():
    """Two compiled models and their flat file set, one runtime copy."""
    compiled = [
        compile_bytes(mutants.BASES["conv"](), "tiny_conv"),
        compile_bytes(mutants.BASES["fully_connected"](), "tiny_fc"),
    ]
    files: dict[str, str] = {}
    for c in compiled:
        for name, text in emit(c).files.items():
            assert files.setdefault(name, text) == text, f"{name} differs between the models"
    return compiled, files


def write(tmp_path: Path, fmt: str, bundle, name: str | None = None) -> Path:
    compiled, files = bundle
    out = tmp_path / fmt
    publish_package(out, "test", package_files(fmt, files, [model_info(c) for c in compiled], name=name))
    return out


def host_outputs(compiled, inputs):
    return build_and_load(compiled, emit(compiled)).run(inputs)


def test_plain_is_the_flat_file_set(bundle):
    compiled, files = bundle
    assert package_files("plain", files, [model_info(c) for c in compiled]) == files


@pytest.mark.parametrize("fmt", FORMATS)
def test_deterministic(bundle, fmt):
    compiled, files = bundle
    models = [model_info(c) for c in compiled]
    assert package_files(fmt, files, models) == package_files(fmt, dict(reversed(files.items())), models)


def test_cmake_host_library_runs_bit_exact(bundle, tmp_path):
    need("cmake", "cc")
    compiled, _ = bundle
    pkg = write(tmp_path, "cmake", bundle)
    cml = (pkg / "CMakeLists.txt").read_text()
    assert "add_library(models STATIC" in cml and "C_STANDARD 99" in cml and "C_EXTENSIONS OFF" in cml
    # A user's project: the package by add_subdirectory, a program that runs each model once.
    rng = np.random.default_rng(0)
    inputs = [rng.integers(-128, 128, size=c.graph.tensors[c.graph.inputs[0]].shape) for c in compiled]
    app = tmp_path / "app"
    app.mkdir()
    main = ["#include <stdio.h>", '#include "tiny_conv.h"', '#include "tiny_fc.h"', "int main(void) {"]
    for c, x in zip(compiled, inputs):
        values = ", ".join(str(v) for v in x.flatten())
        main += [
            f"  {{ static const int8_t x[] = {{{values}}};",
            f"    int8_t *in = (int8_t *){c.name}_input(0); const int8_t *out;",
            "    for (unsigned i = 0; i < sizeof x; ++i) in[i] = x[i];",
            f"    {c.name}_invoke(); out = (const int8_t *){c.name}_output(0);",
            f'    for (unsigned i = 0; i < {c.name.upper()}_OUTPUT0_SIZE; ++i) printf("%d ", out[i]);',
            '    printf("\\n"); }',
        ]
    main += ["  return 0;", "}"]
    (app / "main.c").write_text("\n".join(main) + "\n")
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f"add_subdirectory({pkg.as_posix()} models)\n"
        "add_executable(app main.c)\ntarget_link_libraries(app PRIVATE edgeconv::models)\n"
    )
    build = tmp_path / "build-host"
    run(["cmake", "-S", app, "-B", build, "-DCMAKE_C_COMPILER=gcc", "-DMODELS_WERROR=ON", "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", build])
    lines = run([build / "app"]).splitlines()
    for c, x, line in zip(compiled, inputs, lines):
        expected = host_outputs(c, [x])[0].flatten().tolist()
        assert [int(v) for v in line.split()] == expected, c.name


def test_cmake_package_of_a_real_model_matches_tflite_micro(shared_models, tmp_path):
    """kws_ref_model (MLCommons Tiny) through compile_package --format cmake, built by CMake into
    a host program reading an input on stdin: its outputs equal TFLite Micro's."""
    need("cmake", "gcc")
    from edgeconv.checking.references import TflmReference
    from edgeconv.checking.validation import random_inputs

    path = shared_models / "mlcommons_tiny" / "kws_ref_model.tflite"
    r = compile_package([path], tmp_path / "kws", "cmake", names=["kws"])
    assert r.package == "kws"
    app = tmp_path / "app"
    app.mkdir()
    (app / "main.c").write_text(
        '#include <stdio.h>\n#include "kws.h"\n'
        "int main(void) {\n"
        "  if (fread(kws_input(0), 1, KWS_INPUT0_BYTES, stdin) != KWS_INPUT0_BYTES) return 1;\n"
        "  kws_invoke();\n"
        "  return fwrite(kws_output(0), 1, KWS_OUTPUT0_BYTES, stdout) == KWS_OUTPUT0_BYTES ? 0 : 1;\n"
        "}\n"
    )
    (app / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.13)\nproject(app C)\n"
        f"add_subdirectory({(tmp_path / 'kws').as_posix()} kws)\n"
        "add_executable(app main.c)\ntarget_link_libraries(app PRIVATE kws)\n"
    )
    build = tmp_path / "build"
    run(["cmake", "-S", app, "-B", build, "-DCMAKE_C_COMPILER=gcc", "-DKWS_WERROR=ON", "-DCMAKE_BUILD_TYPE=Release"])
    run(["cmake", "--build", build])
    model = compile_file(path, name="kws")
    with TflmReference(path.read_bytes()) as ref:
        for sample in random_inputs(model, 3, 11):
            x = np.ascontiguousarray(sample[0], dtype=np.int8)
            proc = subprocess.run([build / "app"], input=x.tobytes(), capture_output=True)
            assert proc.returncode == 0
            ours = np.frombuffer(proc.stdout, dtype=np.int8)
            np.testing.assert_array_equal(ours, np.asarray(ref.run(sample, 1)[0]).reshape(-1))


@pytest.mark.parametrize(
    "board,tool,machine",
    [
        ("cortex-m4", "arm-none-eabi-gcc", "ARM"),
        ("riscv32", "riscv64-unknown-elf-gcc", "RISC-V"),
        ("atmega2560", "avr-gcc", "Atmel AVR 8-bit"),
    ],
)
def test_cmake_cross_builds_with_the_written_toolchain_file(bundle, tmp_path, board, tool, machine):
    need("cmake", tool)
    pkg = write(tmp_path, "cmake", bundle)
    assert sorted(p.stem for p in (pkg / "cmake").glob("*.cmake")) == sorted(b.name for b in toolchain_boards())
    toolchain = (pkg / "cmake" / f"{board}.cmake").read_text()
    assert "set(CMAKE_SYSTEM_NAME Generic)" in toolchain
    assert "set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)" in toolchain
    build = tmp_path / f"build-{board}"
    run(
        [
            "cmake",
            "-S",
            pkg,
            "-B",
            build,
            f"-DCMAKE_TOOLCHAIN_FILE={pkg / 'cmake' / f'{board}.cmake'}",
            "-DMODELS_WERROR=ON",
            "-DCMAKE_BUILD_TYPE=MinSizeRel",
        ]
    )
    run(["cmake", "--build", build, "--verbose"])
    lib = build / "libmodels.a"
    readelf = tool.replace("gcc", "readelf")
    header = run([readelf, "-h", lib])
    assert re.search(rf"Machine:\s+{machine}", header)
    if board == "cortex-m4":  # the board's -mcpu and float ABI reached the compiler
        attributes = run([readelf, "-A", lib])
        for tag in ("Tag_CPU_arch: v7E-M", "Tag_FP_arch: VFPv4-D16", "Tag_ABI_VFP_args: VFP registers"):
            assert tag in attributes
    elif board == "riscv32":
        assert "RVC" in header  # flags: the compressed extension (rv32imc)
    else:
        assert "avr:6" in run(["avr-objdump", "-f", lib])  # -mmcu=atmega2560: the avr6 architecture
    symbols = run([tool.replace("gcc", "nm"), lib])
    assert " T tiny_conv_invoke" in symbols and " T tiny_fc_invoke" in symbols


def test_zephyr_module_structure(bundle, tmp_path):
    yaml = pytest.importorskip("yaml")
    kconfiglib = pytest.importorskip("kconfiglib")
    pkg = write(tmp_path, "zephyr", bundle)
    module = yaml.safe_load((pkg / "zephyr" / "module.yml").read_text())
    assert module["name"] == "models"
    assert module["build"]["cmake"] == "." and (pkg / module["build"]["cmake"] / "CMakeLists.txt").is_file()
    assert (pkg / module["build"]["kconfig"]).is_file()
    cml = (pkg / "CMakeLists.txt").read_text()
    guard = re.search(r"^if\(CONFIG_(\w+)\)", cml, re.M).group(1)
    assert guard == kconfig_symbol("models") == "EDGECONV_MODELS"
    assert "zephyr_library()" in cml
    sources = re.search(r"zephyr_library_sources\(([^)]*)\)", cml).group(1).split()
    assert sorted(Path(s).name for s in sources) == sorted(p.name for p in (pkg / "src").glob("*.c"))
    assert all((pkg / s).is_file() for s in sources)
    for d in re.findall(r"zephyr_(?:library_)?include_directories\((\S+)\)", cml):
        assert (pkg / d).is_dir()
    assert sorted(p.name for p in (pkg / "include").glob("*.h")) == ["tiny_conv.h", "tiny_fc.h"]
    kconf = kconfiglib.Kconfig(str(pkg / "Kconfig"), warn_to_stderr=False)
    assert not kconf.warnings
    assert kconf.syms[guard].type == kconfiglib.BOOL


def _properties(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#"))


def _sketch_cpp(ino: Path, dest: Path) -> Path:
    """What the Arduino preprocessor makes of a sketch: Arduino.h first, then the sketch."""
    dest.write_text(f'#include <Arduino.h>\n#line 1 "{ino.name}"\n' + ino.read_text())
    return dest


def test_arduino_library_layout(bundle, tmp_path):
    pkg = write(tmp_path, "arduino", bundle)
    props = _properties((pkg / "library.properties").read_text())
    for key in (
        "name",
        "version",
        "author",
        "maintainer",
        "sentence",
        "paragraph",
        "category",
        "url",
        "architectures",
        "includes",
    ):
        assert props.get(key), key
    assert props["architectures"] == "*" and props["includes"] == "tiny_conv.h,tiny_fc.h"
    assert props["category"] in (
        "Display",
        "Communication",
        "Signal Input/Output",
        "Sensors",
        "Device Control",
        "Timing",
        "Data Storage",
        "Data Processing",
        "Other",
    )
    for name in ("tiny_conv", "tiny_fc"):
        assert (pkg / "examples" / name / f"{name}.ino").is_file()
        header = (pkg / "src" / f"{name}.h").read_text()
        assert '#ifdef __cplusplus\nextern "C" {' in header  # the sketch is C++, the library C


# Its avr-g++ command is like test_compile_package_user_arena_and_float_helpers's, but links the real Arduino core: each
# test shows its whole command
def test_arduino_avr(bundle, tmp_path):
    """Compiled as the AVR core compiles, linked with the core into ATmega2560 firmware, and run
    under simavr: the example prints over the UART what the validated host build computes."""
    need("avr-gcc", "avr-g++", "simavr", str(ARDUINO_AVR))
    compiled, _ = bundle
    pkg = write(tmp_path, "arduino", bundle)
    core, variant = ARDUINO_AVR / "cores" / "arduino", ARDUINO_AVR / "variants" / "mega"
    target = [
        "-mmcu=atmega2560",
        "-DF_CPU=16000000L",
        "-DARDUINO=10819",
        "-DARDUINO_AVR_MEGA2560",
        "-DARDUINO_ARCH_AVR",
        "-Os",
        "-ffunction-sections",
        "-fdata-sections",
    ]
    objs = tmp_path / "obj"
    objs.mkdir()
    for c in sorted((pkg / "src").glob("*.c")):  # the library: C, as the core compiles .c files
        run(["avr-gcc", *target, "-std=gnu11", *WARNINGS, "-I", pkg / "src", "-c", c, "-o", objs / f"{c.stem}.o"])
    # The core itself (the link needs it). WString.cpp does not compile with Debian's avr-gcc
    # (DECIMAL_DIG, the failure arduino-builder trips over); nothing here uses String. The
    # core's main.cpp calls loop() forever: avr_main.cpp runs setup() once, then stops simavr.
    core_objs = []
    for src in sorted(core.glob("*.c")) + sorted(core.glob("*.cpp")) + [STUB / "avr_main.cpp"]:
        if src.name in ("WString.cpp", "main.cpp"):
            continue
        obj = objs / f"core_{src.name}.o"
        compiler = (
            ["avr-gcc", "-std=gnu11"]
            if src.suffix == ".c"
            else ["avr-g++", "-std=gnu++11", "-fno-exceptions", "-fno-threadsafe-statics"]
        )
        run([*compiler, *target, "-I", core, "-I", variant, "-c", src, "-o", obj])
        core_objs.append(obj)
    for c in compiled:
        name = c.name
        cpp = _sketch_cpp(pkg / "examples" / name / f"{name}.ino", tmp_path / f"{name}.ino.cpp")
        run(
            [
                "avr-g++",
                *target,
                "-std=gnu++11",
                "-fno-exceptions",
                "-fno-threadsafe-statics",
                *WARNINGS,
                "-I",
                core,
                "-I",
                variant,
                "-I",
                pkg / "src",
                "-c",
                cpp,
                "-o",
                objs / f"{name}.ino.o",
            ]
        )
        elf = tmp_path / f"{name}.elf"
        lib_objs = sorted(
            o for o in objs.glob("*.o") if not o.name.startswith("core_") and not o.name.endswith(".ino.o")
        )
        run(
            [
                "avr-gcc",
                "-mmcu=atmega2560",
                "-Os",
                "-Wl,--gc-sections",
                "-o",
                elf,
                objs / f"{name}.ino.o",
                *lib_objs,
                *core_objs,
                "-lm",
            ]
        )
        sizes = run(["avr-size", elf]).splitlines()[1].split()
        text, data, bss = (int(v) for v in sizes[:3])
        assert text + data <= 256 * 1024 and data + bss <= 8 * 1024, (name, sizes)
        # no -D flag: ec_common.h keeps the weights, biases and requantization pairs in flash on
        # an AVR (flash addresses below 0x800000, where the ELF puts SRAM), out of .data
        arrays = [
            line.split()
            for line in run(["avr-nm", elf]).splitlines()
            if re.search(rf" {name}_op\d+_(weights|bias|requant|multiplier|shift)$", line)
        ]
        assert arrays and all(int(a[0], 16) < 0x800000 for a in arrays), arrays
        proc = subprocess.run(
            ["simavr", "-m", "atmega2560", "-f", "16000000", str(elf)], capture_output=True, text=True, timeout=120
        )
        assert proc.returncode == 0, proc.stderr
        uart = re.sub(r"\x1b\[[0-9;]*m", "", proc.stdout + proc.stderr)  # simavr colours the UART's lines
        x = c.graph.tensors[c.graph.inputs[0]]
        expected = host_outputs(c, [np.full(x.shape, x.quant.zp)])[0].flatten()
        assert re.search(r"output 0:([- \d]*)", uart).group(1).split() == [str(v) for v in expected.tolist()]
        assert re.search(r"argmax 0: (\d+)", uart).group(1) == str(int(np.argmax(expected)))


def test_arduino_cortex_m(bundle, tmp_path):
    need("arm-none-eabi-gcc", "arm-none-eabi-g++")
    pkg = write(tmp_path, "arduino", bundle)
    target = ["-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16", "-Os"]
    for c in sorted((pkg / "src").glob("*.c")):
        run(["arm-none-eabi-gcc", *target, "-std=gnu11", *WARNINGS, "-c", c, "-o", tmp_path / f"{c.stem}.o"])
    for name in ("tiny_conv", "tiny_fc"):
        cpp = _sketch_cpp(pkg / "examples" / name / f"{name}.ino", tmp_path / f"{name}.ino.cpp")
        run(
            [
                "arm-none-eabi-g++",
                *target,
                "-std=gnu++11",
                "-fno-exceptions",
                "-fno-rtti",
                *WARNINGS,
                "-I",
                STUB,
                "-I",
                pkg / "src",
                "-c",
                cpp,
                "-o",
                tmp_path / f"{name}.ino.o",
            ]
        )


def test_arduino_example_prints_the_host_builds_result(bundle, tmp_path):
    need("gcc", "g++")
    compiled, _ = bundle
    pkg = write(tmp_path, "arduino", bundle)
    for c in compiled:
        work = tmp_path / f"work-{c.name}"
        work.mkdir()
        printed = _sketch_output(pkg, c.name, work)
        x = c.graph.tensors[c.graph.inputs[0]]
        expected = host_outputs(c, [np.full(x.shape, x.quant.zp)])[0].flatten()
        assert printed == (
            f"output 0: {' '.join(str(v) for v in expected.tolist())}\nargmax 0: {int(np.argmax(expected))}\n"
        )


def _sketch_output(pkg: Path, name: str, work: Path) -> str:
    """Build the package's example for `name` on the host with the stdout Serial stub; run it."""
    objs = []
    for c in sorted((pkg / "src").glob("*.c")):
        objs.append(work / f"{c.stem}.o")
        run(["gcc", "-std=c99", "-pedantic", *WARNINGS, "-I", pkg / "src", "-c", c, "-o", objs[-1]])
    driver = work / "driver.cpp"
    driver.write_text("#include <Arduino.h>\nEcStubSerial Serial;\nint main() { setup(); return 0; }\n")
    cpp = _sketch_cpp(pkg / "examples" / name / f"{name}.ino", work / f"{name}.ino.cpp")
    run(
        [
            "g++",
            "-std=gnu++11",
            "-DEC_STUB_STDIO",
            *WARNINGS,
            "-I",
            STUB,
            "-I",
            pkg / "src",
            cpp,
            driver,
            *objs,
            "-o",
            work / name,
        ]
    )
    return run([work / name])


# Its avr-g++ command is like test_arduino_avr's, but compiles one object against the stub core: each test shows its
# whole command
def test_compile_package_user_arena_and_float_helpers(bundle, tmp_path):
    """compile_package from .tflite files: with --arena user the example gives the model its
    arena first; the float helpers' header is public (include/) beside the model's."""
    need("gcc", "g++")
    compiled, _ = bundle
    paths = []
    for c, base in zip(compiled, ("conv", "fully_connected")):
        paths.append(tmp_path / f"{c.name}.tflite")
        paths[-1].write_bytes(mutants.BASES[base]())
    r = compile_package(paths, tmp_path / "lib", "arduino", arena="user", float_helpers=True, package_name="pair")
    assert r.package == "pair" and r.format == "arduino" and [m["name"] for m in r.models] == ["tiny_conv", "tiny_fc"]
    pkg = tmp_path / "lib"
    assert "src/tiny_fc_float.h" in r.files and (pkg / "src" / "tiny_fc_float.h").is_file()
    assert "name=pair" in (pkg / "library.properties").read_text()
    ino = (pkg / "examples" / "tiny_fc" / "tiny_fc.ino").read_text()
    assert "tiny_fc_init(arena);" in ino
    c = compiled[1]
    x = c.graph.tensors[c.graph.inputs[0]]
    expected = host_outputs(c, [np.full(x.shape, x.quant.zp)])[0].flatten()
    work = tmp_path / "work"
    work.mkdir()
    assert _sketch_output(pkg, "tiny_fc", work) == (
        f"output 0: {' '.join(str(v) for v in expected.tolist())}\nargmax 0: {int(np.argmax(expected))}\n"
    )
    if shutil.which("avr-g++") and ARDUINO_AVR.is_dir():  # alignas and the init call, as the AVR core's C++
        core, variant = ARDUINO_AVR / "cores" / "arduino", ARDUINO_AVR / "variants" / "mega"
        cpp = _sketch_cpp(pkg / "examples" / "tiny_fc" / "tiny_fc.ino", work / "avr.ino.cpp")
        run(
            [
                "avr-g++",
                "-mmcu=atmega2560",
                "-DF_CPU=16000000L",
                "-DARDUINO_ARCH_AVR",
                "-Os",
                "-std=gnu++11",
                *WARNINGS,
                "-I",
                core,
                "-I",
                variant,
                "-I",
                pkg / "src",
                "-c",
                cpp,
                "-o",
                work / "avr.ino.o",
            ]
        )
    cmake = compile_package(paths, tmp_path / "cm", "cmake", arena="user", float_helpers=True)
    assert {"include/tiny_conv_float.h", "include/tiny_fc_float.h", "include/tiny_fc.h"} <= set(cmake.files)
    assert cmake.package == "models"


def test_a_users_file_in_the_way_is_kept(bundle, tmp_path):
    compiled, files = bundle
    out = tmp_path / "pkg"
    (out / "src").mkdir(parents=True)
    (out / "src" / "tiny_fc.c").write_text("/* mine */\n")
    package = package_files("cmake", files, [model_info(c) for c in compiled])
    with pytest.raises(OutputError, match="tiny_fc.c exists and is not edgeconv's output"):
        publish_package(out, "test", package)
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*")) == ["src", "src/tiny_fc.c"]
    assert (out / "src" / "tiny_fc.c").read_text() == "/* mine */\n"
    publish_package(out, "test", package, force=True)
    assert (out / "src" / "tiny_fc.c").read_text() == files["tiny_fc.c"]
    publish_package(out, "test", package)  # its own files: written again without --force


def test_platformio_manifest_is_schema_valid(bundle, tmp_path):
    pkg = write(tmp_path, "platformio", bundle)
    text = (pkg / "library.json").read_text()
    manifest = json.loads(text)
    assert manifest["frameworks"] == "*" and manifest["platforms"] == "*"
    build = manifest["build"]
    assert build["flags"] == ["-std=c99"]
    assert (pkg / build["srcDir"]).is_dir() and (pkg / build["includeDir"] / "tiny_fc.h").is_file()
    parser = pytest.importorskip("platformio.package.manifest.parser")
    schema = pytest.importorskip("platformio.package.manifest.schema")
    parsed = parser.ManifestParserFactory.new(text, parser.ManifestFileType.LIBRARY_JSON).as_dict()
    assert parsed["build"] == build
    loaded = schema.ManifestSchema().load_manifest(parsed)  # raises ManifestValidationError
    assert loaded["name"] == "models" and loaded["version"] and set(loaded["keywords"]) >= {"tinyml", "cnn"}


def test_cli_format(tmp_path):
    assert PACKAGE_FORMATS == FORMATS
    paths = []
    for name, base in (("tiny_conv", "conv"), ("tiny_fc", "fully_connected")):
        paths.append(tmp_path / f"{name}.tflite")
        paths[-1].write_bytes(mutants.BASES[base]())
    out = tmp_path / "lib"
    proc = run_cli("compile", *paths, "-o", out, "--format", "zephyr", "--json")
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["format"] == "zephyr" and summary["package"] == "models"
    wanted = {"zephyr/module.yml", "Kconfig", "CMakeLists.txt", "include/tiny_fc.h", "src/tiny_fc.c"}
    assert wanted <= set(summary["files"])
    assert all((out / f).is_file() for f in summary["files"])
    # Again, as another format into the same folder: its own files are replaced without --force.
    proc = run_cli("compile", *paths, "-o", out, "--format", "platformio")
    assert proc.returncode == 0, proc.stderr
    assert "models: platformio package" in proc.stdout and (out / "library.json").is_file()
    assert not (out / "Kconfig").exists()  # the zephyr package's files, no longer written, are gone
    assert not (out / "zephyr" / "module.yml").exists()
    assert (out / "src" / "tiny_fc.c").is_file() and (out / "include" / "tiny_fc.h").is_file()
    assert not (out / "zephyr").exists()  # a folder left empty goes with its manifest
    proc = run_cli("compile", paths[0], "-o", tmp_path / "one", "--format", "arduino", "--package-name", "kw")
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "one" / "examples" / "tiny_conv" / "tiny_conv.ino").is_file()
    assert "name=kw\n" in (tmp_path / "one" / "library.properties").read_text()
    # Back to plain: the package's subfolders go (a build globbing **/*.c would link two
    # runtime copies), except a file of the user's, which stays with its folder.
    (tmp_path / "one" / "src" / "user.c").write_text("int user;\n")
    proc = run_cli("compile", paths[0], "-o", tmp_path / "one")
    assert proc.returncode == 0, proc.stderr
    left = sorted(p.relative_to(tmp_path / "one").as_posix() for p in (tmp_path / "one").rglob("*") if p.is_file())
    assert "tiny_conv.c" in left and "ec_common.h" in left and not (tmp_path / "one" / "examples").exists()
    assert [f for f in left if "/" in f] == ["src/user.c"] and not (tmp_path / "one" / "library.properties").exists()
    assert_refused(
        run_cli("compile", paths[0], "-o", tmp_path / "x", "--format", "cmake", "--runtime", tmp_path / "rt"),
        "--runtime applies to --format plain",
    )
    assert_refused(run_cli("compile", paths[0], "-o", tmp_path / "x", "--package-name", "kw"), "--package-name")
    assert_refused(
        run_cli("compile", paths[0], "-o", tmp_path / "x", "--format", "cmake", "--package-name", "1x"),
        "not a C identifier",
    )
    assert not (tmp_path / "x").exists()
