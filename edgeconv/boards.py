"""Board profiles: one small TOML file each in boards/ (or a path given by the user)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .ir import ModelError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@dataclass(frozen=True)
class Board:
    name: str
    description: str
    cc: str
    cflags: tuple[str, ...]
    flash_bytes: int = 0  # 0: unlimited
    ram_bytes: int = 0
    stack_bytes: int = 0  # 0: the stack is sized to the firmware's computed need
    family: str = "host"  # host, cortex-m or riscv: picks startup code and linker script
    part: str = ""  # the typical part whose flash and RAM the profile states
    flash_origin: int = 0
    ram_origin: int = 0x20000000
    qemu_machine: str | None = None
    extra: dict = field(default_factory=dict)

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


def boards_dir() -> Path:
    here = Path(__file__).resolve().parent.parent / "boards"
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
    board = Board(
        name=data["name"],
        description=data.get("description", ""),
        cc=data["cc"],
        cflags=tuple(data.get("cflags", [])),
        flash_bytes=data.get("flash_bytes", 0),
        ram_bytes=data.get("ram_bytes", 0),
        stack_bytes=data.get("stack_bytes", 0),
        family=data.get("family", "host"),
        part=data.get("part", ""),
        flash_origin=data.get("flash_origin", 0),
        ram_origin=data.get("ram_origin", 0x20000000),
        qemu_machine=data.get("qemu_machine"),
        extra={k: v for k, v in data.items() if k not in _FIELDS and k != "cflags"},
    )
    if board.stack_bytes < 0:
        raise ModelError(f"{path}: 'stack_bytes' must be a number of bytes (0: sized to the firmware's need)")
    if board.family not in FAMILIES:
        raise ModelError(f"{path}: family {board.family!r} is not one of {', '.join(FAMILIES)}")
    return board


FAMILIES = ("host", "cortex-m", "riscv", "avr")  # avr: edgeconv/avr.py (avr-libc start-up, simavr)
DSP_CPUS = ("cortex-m4", "cortex-m7", "cortex-m33", "cortex-m35p", "cortex-m55", "cortex-m85")

# Scalar fields of a board file: the TOML type each must have, and how to say it.
_FIELDS: dict[str, tuple[type, str]] = {
    "name": (str, "a string"),
    "description": (str, "a string"),
    "cc": (str, "a string (the compiler command)"),
    "family": (str, "a string"),
    "part": (str, "a string"),
    "qemu_machine": (str, "a string"),
    "flash_bytes": (int, "an integer"),
    "ram_bytes": (int, "an integer"),
    "stack_bytes": (int, "an integer"),
    "flash_origin": (int, "an integer"),
    "ram_origin": (int, "an integer"),
}


def list_boards() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml"))
