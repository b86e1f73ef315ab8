import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
# Some tests reuse another stage's model builders (test_avr runs test_ops_div's models on the AVR):
# every stage folder is importable by module name, whichever file pytest collects first.
for _stage in sorted(Path(__file__).resolve().parent.iterdir()):
    if _stage.is_dir() and any(_stage.glob("test_*.py")):
        sys.path.append(str(_stage))
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

    return subprocess.run([sys.executable, "-m", "edgeconv.cli", *map(str, args)], capture_output=True, text=True, **kwargs)


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
