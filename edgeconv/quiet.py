"""Keeping other libraries' chatter off the user's terminal (and off stdout, which carries
--json output): C compilers run by setuptools, and TensorFlow's converter, which prints from
both Python and C++."""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


def quiet_tensorflow_logs() -> None:
    """Before TensorFlow is imported: no C++ info/warning logs."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextmanager
def silenced():
    """Send what is written to fd 1 and 2 (Python and C alike) to /dev/null meanwhile."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
