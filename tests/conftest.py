import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SHARED_MODELS = ROOT.parent / "shared" / "models"
SHARED_MODEL_FILES = [
    "mlcommons_tiny/kws_ref_model.tflite",
    "mlcommons_tiny/vww_96_int8.tflite",
    "mlcommons_tiny/pretrainedResnet_quant.tflite",
    "mlcommons_tiny/ad01_int8.tflite",
    "mlcommons_tiny/str_ww_ref_model.tflite",
    "tflite_micro/person_detect.tflite",
    "tflite_micro/micro_speech_quantized.tflite",
]


def run_cli(*args, **kwargs):
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", "edgeconv.cli", *map(str, args)], capture_output=True, text=True, **kwargs
    )


def require_tools(*tools: str, hint: str = "") -> None:
    """Skip the calling test when a tool is not on PATH; fail it instead under
    EDGECONV_REQUIRE_TOOLCHAINS (CI), where every test must run."""
    import shutil

    missing = [t for t in tools if shutil.which(t) is None]
    if missing:
        if os.environ.get("EDGECONV_REQUIRE_TOOLCHAINS"):
            pytest.fail(f"{', '.join(missing)} missing and EDGECONV_REQUIRE_TOOLCHAINS is set")
        pytest.skip(f"{', '.join(missing)} not installed{hint}")


def assert_refused(proc, *words):
    """Exit status 2, one line on stderr containing every word, no traceback."""
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


@pytest.fixture(scope="session")
def shared_models() -> Path:
    if not SHARED_MODELS.is_dir():
        pytest.skip(f"shared models folder {SHARED_MODELS} is absent")
    return SHARED_MODELS
