"""Names in generated C: the model's name (file names and the prefix of every symbol), and
text taken from a model (tensor and op names) that goes into C comments.

The model name is a C identifier, kept as the user spelled it (`MyModel` gives `MyModel.c`,
`MyModel_invoke` and `MYMODEL_` macros). It may not collide with anything else edgeconv puts
beside it or anything the C toolchain owns: the runtime's `ec_` namespace, the board support
files `build` writes, C and POSIX header names, C keywords and the identifiers C reserves (a leading underscore).
Names are compared case-insensitively, because `Stdint.h` is `stdint.h` on a
case-insensitive file system.
"""

from __future__ import annotations

import re

from edgeconv.frontend.ir import ModelError

MAX_NAME_LENGTH = 64

# The runtime's namespace: every c_runtime file and symbol starts with `ec_`.
RUNTIME_PREFIX = "ec_"

# Headers of C11 (7.1.2) and POSIX.1-2017, and a few every embedded toolchain ships.
C_HEADERS = frozenset(
    [
        "assert",
        "complex",
        "ctype",
        "errno",
        "fenv",
        "float",
        "inttypes",
        "iso646",
        "limits",
        "locale",
        "math",
        "setjmp",
        "signal",
        "stdalign",
        "stdarg",
        "stdatomic",
        "stdbool",
        "stddef",
        "stdint",
        "stdio",
        "stdlib",
        "stdnoreturn",
        "string",
        "tgmath",
        "threads",
        "time",
        "uchar",
        "wchar",
        "wctype",
        "aio",
        "arpa",
        "cpio",
        "dirent",
        "dlfcn",
        "fcntl",
        "fmtmsg",
        "fnmatch",
        "ftw",
        "glob",
        "grp",
        "iconv",
        "langinfo",
        "libgen",
        "monetary",
        "mqueue",
        "ndbm",
        "net",
        "netdb",
        "netinet",
        "nl_types",
        "poll",
        "pthread",
        "pwd",
        "regex",
        "sched",
        "search",
        "semaphore",
        "spawn",
        "strings",
        "stropts",
        "sys",
        "syslog",
        "tar",
        "termios",
        "trace",
        "ulimit",
        "unistd",
        "utime",
        "utmp",
        "utmpx",
        "wordexp",
        "alloca",
        "malloc",
        "memory",
        "features",
        "endian",
        "byteswap",
        "stdio_ext",
        "getopt",
        "err",
        "sysexits",
        "values",
        "arm_acle",
        "arm_neon",
        "arm_mve",
        "arm_fp16",
        "arm_math",
        "cmsis_compiler",
        "cmsis_gcc",
        "core_cm0plus",
        "core_cm4",
        "core_cm7",
        "core_cm33",
        "core_cm55",
        "newlib",
        "reent",
        "picolibc",
    ]
)

# Files `edgeconv build` writes beside the model's (boards/support and firmware.py).
BUILD_FILES = frozenset(
    [
        "main",
        "startup",
        "cortex_m_startup",
        "riscv_startup",
        "board_libc",
        "link",
        "firmware",
        "semihost_main",
        "host_main",
        "semihost",
        "inputs",
        "outputs",
        "crt0",
        "syscalls",
    ]
)

C_KEYWORDS = frozenset(
    [
        "auto",
        "break",
        "case",
        "char",
        "const",
        "continue",
        "default",
        "do",
        "double",
        "else",
        "enum",
        "extern",
        "float",
        "for",
        "goto",
        "if",
        "inline",
        "int",
        "long",
        "register",
        "restrict",
        "return",
        "short",
        "signed",
        "sizeof",
        "static",
        "struct",
        "switch",
        "typedef",
        "union",
        "unsigned",
        "void",
        "volatile",
        "while",
        "_bool",
        "_complex",
        "_imaginary",
        "_alignas",
        "_alignof",
        "_atomic",
        "_generic",
        "_noreturn",
        "_static_assert",
        "_thread_local",
        "bool",
        "true",
        "false",
        "null",
        "asm",
    ]
)

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


def is_identifier(name: str) -> bool:
    return bool(_IDENTIFIER.match(name))


def reserved_reason(name: str) -> str | None:
    """Why `name` cannot name a model, or None if it can."""
    low = name.lower()
    if low == "ec" or low.startswith(RUNTIME_PREFIX):
        return "the ec_ prefix belongs to edgeconv's runtime files and symbols"
    if low in C_HEADERS:
        return f"{name}.h would shadow the C/POSIX header <{low}.h>"
    if low in BUILD_FILES or low in _support_stems():
        return f"{name} is a file `edgeconv build` writes beside the model"
    if low in C_KEYWORDS:
        return f"{name} is a C keyword"
    if name.startswith("_"):
        return "C reserves identifiers with file scope that begin with an underscore"
    return None


def _support_stems() -> set[str]:
    from edgeconv.frontend.boards import boards_dir

    return {p.name.split(".")[0].lower() for p in (boards_dir() / "support").iterdir()}


def suggest(name: str) -> str:
    """A valid, unreserved spelling close to `name`."""
    base = sanitize(name)
    if reserved_reason(base) is None and len(base) <= MAX_NAME_LENGTH:
        return base
    for candidate in (f"{base}_model", f"model_{base.lstrip('_')}"):
        candidate = candidate[:MAX_NAME_LENGTH]
        if reserved_reason(candidate) is None:
            return candidate
    return "model"


def sanitize(text: str) -> str:
    """Any text as a C identifier: other characters become `_`, a leading digit gets `m_`,
    leading underscores go (C reserves some of those), case is kept."""
    ident = re.sub(r"[^A-Za-z0-9_]", "_", text).lstrip("_") or "model"
    if ident[0].isdigit():
        ident = "m_" + ident
    return ident[:MAX_NAME_LENGTH]


def check_name(name: str) -> str:
    """An explicit --name: used exactly as given, or refused with a spelling that works."""
    if not is_identifier(name):
        raise ModelError(
            f"--name {name!r} is not a C identifier (letters, digits and _, not starting "
            f"with a digit); try --name {suggest(name)}"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ModelError(f"--name {name[:20]}... is {len(name)} characters; use at most {MAX_NAME_LENGTH}")
    reason = reserved_reason(name)
    if reason is not None:
        raise ModelError(f"--name {name} is reserved: {reason}; rename it, e.g. --name {suggest(name)}")
    return name


def name_from_stem(stem: str) -> str:
    """The default name: the model file's stem made an identifier. A stem that would collide
    with a reserved name is refused rather than renamed, so the user picks the name."""
    name = sanitize(stem)
    reason = reserved_reason(name)
    if reason is not None:
        raise ModelError(
            f"the model file's name gives the C name {name}, which is reserved ({reason}); "
            f"rename the file, or pass --name (compile, build), e.g. --name {suggest(name)}"
        )
    return name


# Text from a model written into C comments: printable ASCII that cannot end or open a
# comment (no `*`), form a trigraph (no `?`), splice lines (no backslash), or open a string
# or character literal (no quotes). Everything else becomes `_`.
_COMMENT_SAFE = re.compile(r"[^A-Za-z0-9 _\-.,:;/()\[\]{}<>=+#@&%^~|!$]")
MAX_COMMENT_TEXT = 80


def comment_text(text: str, limit: int = MAX_COMMENT_TEXT) -> str:
    """`text` made safe inside a C comment and on one line; at most `limit` characters."""
    safe = _COMMENT_SAFE.sub("_", str(text))
    if len(safe) > limit:
        safe = safe[: limit - 3] + "..."
    # A trailing slash right before the comment's own `*/` would read as `/*`.
    return safe + "_" if safe.endswith("/") else safe
