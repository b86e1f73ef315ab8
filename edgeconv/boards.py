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
    family: str = "host"  # host, cortex-m or riscv: picks startup code and linker script
    part: str = ""  # the typical part whose flash and RAM the profile states
    flash_origin: int = 0
    ram_origin: int = 0x20000000
    qemu_machine: str | None = None
    extra: dict = field(default_factory=dict)


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
    known = {"name", "description", "cc", "cflags", "flash_bytes", "ram_bytes", "family", "part", "flash_origin",
             "ram_origin", "qemu_machine"}
    try:
        board = Board(
            name=str(data["name"]),
            description=str(data.get("description", "")),
            cc=str(data["cc"]),
            cflags=tuple(str(f) for f in data.get("cflags", [])),
            flash_bytes=int(data.get("flash_bytes", 0)),
            ram_bytes=int(data.get("ram_bytes", 0)),
            family=str(data.get("family", "host")),
            part=str(data.get("part", "")),
            flash_origin=int(data.get("flash_origin", 0)),
            ram_origin=int(data.get("ram_origin", 0x20000000)),
            qemu_machine=data.get("qemu_machine"),
            extra={k: v for k, v in data.items() if k not in known},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(f"{path}: board file lacks or mistypes {exc}") from None
    if board.family not in FAMILIES:
        raise ModelError(f"{path}: family {board.family!r} is not one of {', '.join(FAMILIES)}")
    return board


FAMILIES = ("host", "cortex-m", "riscv")


def list_boards() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.toml"))
