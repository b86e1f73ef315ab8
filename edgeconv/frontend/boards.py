"""Board profiles: one small TOML file each in boards/ (or a path given by the user).

A profile names a compiler and its flags, and two memory maps kept apart:
- `[part]`: the real chip (e.g. STM32F446RE: flash at 0x08000000, SRAM at 0x20000000) with its
  flash and RAM sizes. `edgeconv build` links for it (vector table at the flash origin, stack
  top at the end of RAM) and checks the firmware fits it.
- `[emulator]`: the QEMU machine that runs the same core, with its own map (mps2-an386 has
  memory at 0x0 and 0x20000000). Emulated runs (`validate --board`, `inspect --board`) link
  for this map. A profile without one builds but is not emulated.
The older single-map form (top-level flash_origin/ram_origin/flash_bytes/ram_bytes, a `part`
string and `qemu_machine`: one map for both) is still read. See docs/BOARDS.md.
"""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from edgeconv.frontend.ir import ModelError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Emulator:
    """The QEMU machine an emulated run uses, and where its flash-like and RAM memory is."""

    machine: str  # qemu -M
    qemu: str  # the QEMU program: qemu-system-arm, qemu-system-riscv32
    flash_origin: int
    flash_bytes: int
    ram_origin: int
    ram_bytes: int
    note: str = ""


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    cc: str
    cflags: tuple[str, ...]
    flash_bytes: int = 0  # the part's flash; 0: unlimited
    ram_bytes: int = 0  # the part's RAM (the main RAM region the firmware links into)
    stack_bytes: int = 0  # 0: the stack is sized to the firmware's computed need
    family: str = "host"  # host, cortex-m or riscv: picks startup code and linker script
    part: str = ""  # the part, as one line: "STM32F446RE (512 KB flash, 128 KB RAM)"
    flash_origin: int = 0  # the part's map: where code and constants link
    ram_origin: int = 0x20000000
    qemu_machine: str | None = None  # the emulator's machine, if any (emulator.machine)
    extra: dict = field(default_factory=dict)
    part_name: str = ""  # the part alone: "STM32F446RE"
    memory_source: str = ""  # where the part's map comes from (datasheet, reference manual)
    emulator: Emulator | None = None
    linked_for: str = "part"  # which map flash_origin/ram_origin are: "part" or "emulator"

    @property
    def has_dsp(self) -> bool:
        """Whether the compiler targets the Arm DSP extension (SMLAD, SXTB16: Armv7E-M and
        Armv8-M Mainline cores), read from -mcpu as gcc reads it: the kernels' fast paths,
        and int16 weights, only pay there."""
        cpus = [f.split("=", 1)[1] for f in self.cflags if f.startswith("-mcpu=")]
        if not cpus:
            return False
        base, *features = cpus[-1].split("+")
        return base in DSP_CPUS and "nodsp" not in features

    def for_emulator(self) -> Board:
        """The same board linked for its emulator's map (flash and RAM origins and sizes):
        what an emulated run builds. Refused when the profile has no emulator."""
        if self.emulator is None:
            raise ModelError(
                f"board {self.name} has no [emulator] section in its profile: it builds, but is not emulated"
            )
        e = self.emulator
        return dataclasses.replace(
            self,
            flash_origin=e.flash_origin,
            ram_origin=e.ram_origin,
            flash_bytes=e.flash_bytes,
            ram_bytes=e.ram_bytes,
            linked_for="emulator",
        )


def boards_dir() -> Path:
    here = Path(__file__).resolve().parents[2] / "boards"
    if (here / "host.toml").exists():
        return here
    return Path(str(resources.files("edgeconv._boards")))


def load_board(name_or_path: str) -> Board:
    path = Path(name_or_path)
    if not (path.suffix == ".toml" and path.exists()):
        path = boards_dir() / f"{name_or_path}.toml"
    if not path.exists():
        known = sorted(p.stem for p in boards_dir().glob("*.toml"))
        raise ModelError(f"unknown board {name_or_path!r} (known: {', '.join(known)}; or give a .toml path)")
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise ModelError(f"{path}: not a valid board file ({exc})") from None
    if not isinstance(data.get("cflags", []), list):
        raise ModelError(f"{path}: 'cflags' must be a list of strings, like cflags = [\"-O2\"]")
    for key, kind in _FIELDS.items():
        if key in data and not isinstance(data[key], kind[0]):
            raise ModelError(f"{path}: {key!r} must be {kind[1]}, not {data[key]!r}")
    for key in ("name", "cc"):
        if key not in data:
            raise ModelError(f"{path}: the board file lacks {key!r} (a string)")
    if not all(isinstance(f, str) for f in data.get("cflags", [])):
        raise ModelError(f"{path}: 'cflags' must be a list of strings")
    family = data.get("family", "host")
    if family not in FAMILIES:
        raise ModelError(f"{path}: family {family!r} is not one of {', '.join(FAMILIES)}")
    part = _read_part(path, data)
    emulator = _read_emulator(path, data, family, part)
    board = Board(
        name=data["name"],
        description=data.get("description", ""),
        cc=data["cc"],
        cflags=tuple(data.get("cflags", [])),
        flash_bytes=part["flash_bytes"],
        ram_bytes=part["ram_bytes"],
        stack_bytes=data.get("stack_bytes", 0),
        family=family,
        part=part["line"],
        flash_origin=part["flash_origin"],
        ram_origin=part["ram_origin"],
        qemu_machine=emulator.machine if emulator is not None else None,
        extra={k: v for k, v in data.items() if k not in _FIELDS and k not in ("cflags", "emulator")},
        part_name=part["name"],
        memory_source=part["source"],
        emulator=emulator,
    )
    if board.stack_bytes < 0:
        raise ModelError(f"{path}: 'stack_bytes' must be a number of bytes (0: sized to the firmware's need)")
    return board


def _size_text(n: int) -> str:
    return f"{n // (1 << 20)} MB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n / 1024:g} KB"


def _check_map(path: Path, where: str, m: dict) -> None:
    """Origins and sizes in the 32-bit address space, flash and RAM apart."""
    for key in ("flash_origin", "flash_bytes", "ram_origin", "ram_bytes"):
        if not 0 <= m[key] < 1 << 32:
            raise ModelError(f"{path}: {where} {key} = {m[key]:#x} is outside the 32-bit address space")
    for region in ("flash", "ram"):
        if m[f"{region}_origin"] + m[f"{region}_bytes"] > 1 << 32:
            raise ModelError(
                f"{path}: {where} {region} ({_size_text(m[f'{region}_bytes'])} at {m[f'{region}_origin']:#x}) "
                "runs past the end of the 32-bit address space"
            )
    if m["flash_bytes"] and m["ram_bytes"]:
        f0, f1 = m["flash_origin"], m["flash_origin"] + m["flash_bytes"]
        r0, r1 = m["ram_origin"], m["ram_origin"] + m["ram_bytes"]
        if f0 < r1 and r0 < f1:
            raise ModelError(f"{path}: {where} flash ({f0:#x}..{f1:#x}) and RAM ({r0:#x}..{r1:#x}) overlap")


def _read_table(path: Path, name: str, table: dict, fields: dict[str, tuple[type, str]]) -> None:
    for key, value in table.items():
        if key not in fields:
            raise ModelError(f"{path}: [{name}] has no field {key!r} (it takes {', '.join(fields)})")
        if not isinstance(value, fields[key][0]) or isinstance(value, bool):
            raise ModelError(f"{path}: [{name}] {key} must be {fields[key][1]}, not {value!r}")


def _read_part(path: Path, data: dict) -> dict:
    """The real part's map: a [part] table, or (the older form) top-level keys."""
    table = data.get("part")
    flat = [k for k in _MAP_KEYS if k in data]
    if isinstance(table, dict):
        if flat:
            raise ModelError(
                f"{path}: the memory map is given twice: {', '.join(flat)} at top level and a [part] "
                "table (put them in [part] only)"
            )
        _read_table(path, "part", table, _PART_FIELDS)
        missing = [k for k in ("name", *_MAP_KEYS) if k not in table]
        if missing:
            raise ModelError(f"{path}: [part] lacks {', '.join(missing)}")
        m = {k: table[k] for k in _MAP_KEYS}
        _check_map(path, "[part]", m)
        line = f"{table['name']} ({_size_text(m['flash_bytes'])} flash, {_size_text(m['ram_bytes'])} RAM)"
        return {**m, "name": table["name"], "line": line, "source": table.get("source", "")}
    if table is not None and not isinstance(table, str):
        raise ModelError(f"{path}: 'part' must be a [part] table (or, in the older form, a string), not {table!r}")
    m = {
        "flash_origin": data.get("flash_origin", 0),
        "ram_origin": data.get("ram_origin", 0x20000000),
        "flash_bytes": data.get("flash_bytes", 0),
        "ram_bytes": data.get("ram_bytes", 0),
    }
    _check_map(path, "the", m)
    line = table or ""
    return {**m, "name": line.split(" (")[0], "line": line, "source": ""}


def _read_emulator(path: Path, data: dict, family: str, part: dict) -> Emulator | None:
    table = data.get("emulator")
    if table is None:
        if "qemu_machine" not in data:
            return None
        # The older form: the emulator runs the one map the profile states.
        return Emulator(
            data["qemu_machine"],
            QEMU_PROGRAMS.get(family, ""),
            part["flash_origin"],
            part["flash_bytes"],
            part["ram_origin"],
            part["ram_bytes"],
        )
    if not isinstance(table, dict):
        raise ModelError(f"{path}: 'emulator' must be an [emulator] table, not {table!r}")
    if "qemu_machine" in data:
        raise ModelError(
            f"{path}: the emulator's machine is given twice: qemu_machine at top level and an "
            "[emulator] table (put machine = ... in [emulator] only)"
        )
    _read_table(path, "emulator", table, _EMULATOR_FIELDS)
    missing = [k for k in ("machine", *_MAP_KEYS) if k not in table]
    if missing:
        raise ModelError(f"{path}: [emulator] lacks {', '.join(missing)}")
    m = {k: table[k] for k in _MAP_KEYS}
    _check_map(path, "[emulator]", m)
    if not (m["flash_bytes"] and m["ram_bytes"]):
        raise ModelError(f"{path}: [emulator] flash_bytes and ram_bytes must be the emulator's sizes, not 0")
    qemu = table.get("qemu", QEMU_PROGRAMS.get(family, ""))
    if not qemu:
        raise ModelError(f'{path}: [emulator] needs qemu = "qemu-system-..." for family {family!r}')
    return Emulator(
        table["machine"],
        qemu,
        m["flash_origin"],
        m["flash_bytes"],
        m["ram_origin"],
        m["ram_bytes"],
        table.get("note", ""),
    )


FAMILIES = ("host", "cortex-m", "riscv", "avr")  # avr: edgeconv/targets/avr.py (avr-libc start-up, simavr)
DSP_CPUS = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85")
# The QEMU program that emulates each family's machines.
QEMU_PROGRAMS = {"cortex-m": "qemu-system-arm", "riscv": "qemu-system-riscv32"}

_MAP_KEYS = ("flash_origin", "flash_bytes", "ram_origin", "ram_bytes")

# Scalar fields of a board file: the TOML type each must have, and how to say it.
# Like _PART_FIELDS and _EMULATOR_FIELDS below (one row per key), but kept apart: each table is one TOML section's keys
_FIELDS: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "description": (str, "a string"),
    "cc": (str, "a string (the compiler command)"),
    "family": (str, "a string"),
    "part": ((str, dict), "a [part] table"),
    "qemu_machine": (str, "a string"),
    "flash_bytes": (int, "an integer"),
    "ram_bytes": (int, "an integer"),
    "stack_bytes": (int, "an integer"),
    "flash_origin": (int, "an integer"),
    "ram_origin": (int, "an integer"),
}
# Like _EMULATOR_FIELDS below (both are memory maps), but the part's own; kept apart: each table is one TOML section's
# keys
_PART_FIELDS: dict[str, tuple[type, str]] = {
    "name": (str, "a string (the part number)"),
    "flash_origin": (int, "an integer address"),
    "flash_bytes": (int, "an integer"),
    "ram_origin": (int, "an integer address"),
    "ram_bytes": (int, "an integer"),
    "source": (str, "a string (where the map comes from)"),
}
# Like _PART_FIELDS above (both are memory maps), but the emulator machine's; kept apart: each table is one TOML
# section's keys
_EMULATOR_FIELDS: dict[str, tuple[type, str]] = {
    "machine": (str, "a string (QEMU's -M machine)"),
    "qemu": (str, "a string (the QEMU program)"),
    "flash_origin": (int, "an integer address"),
    "flash_bytes": (int, "an integer"),
    "ram_origin": (int, "an integer address"),
    "ram_bytes": (int, "an integer"),
    "note": (str, "a string"),
}


def list_boards() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml"))
