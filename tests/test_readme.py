"""The README's Python examples run as written (in a fresh process: float32, as users run it)."""

import pathlib
import re
import subprocess
import sys

import pytest

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def section_blocks(heading: str) -> list[str]:
    """The ```python blocks of the README section under ``## heading``."""
    text = README.read_text()
    start = text.index(f"## {heading}\n")
    end = text.find("\n## ", start + 1)
    return re.findall(r"```python\n(.*?)```", text[start : end if end > 0 else None], re.S)


def run(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


@pytest.mark.parametrize("which", [0, 1], ids=["train_step-loop", "fit-predictor"])
def test_your_own_training_loop_blocks_run(which):
    blocks = section_blocks("Your own training loop")
    assert len(blocks) == 2
    out = run(blocks[which])
    if which == 0:
        m = re.search(r"test loss ([0-9.]+), test accuracy ([0-9.]+)", out)
        assert m, out
        # 15 epochs of Adam at 1e-2: the GRU learns the bundled data (chance is 0.5)
        assert float(m.group(2)) >= 0.8 and float(m.group(1)) < 0.5
    else:
        lines = out.strip().splitlines()
        assert "'test_acc'" in lines[0]
        assert lines[1].startswith("negative ") and lines[1].endswith("i am not happy")
        assert lines[2].startswith("positive ") and lines[2].endswith("this is very good")
