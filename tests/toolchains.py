"""The one check every test that runs an external tool makes first."""

from __future__ import annotations

import os
import shutil

import pytest


def need(*tools: str) -> None:
    """Skip when a tool is not on PATH; fail instead under EDGECONV_REQUIRE_TOOLCHAINS (CI), so a
    missing toolchain there is never a silent skip."""
    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{', '.join(missing)} missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{', '.join(missing)} not installed")
