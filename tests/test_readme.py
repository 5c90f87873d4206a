"""The README: short, its Python block runs as written (in a fresh process: float32, as
users run it), its test command is the one ``.ci/run`` runs, its links lead somewhere.

The guides' blocks (``Your own training loop`` and the others) are run by
``tests/test_docs.py``, from the pages that hold them."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
TEST_COMMAND = (
    'python3 -m venv .venv && . .venv/bin/activate && pip install -q -e ".[test]" '
    "&& python -m pytest -q"
)
INSTALL_COMMAND = (
    "python3 -m venv .venv && . .venv/bin/activate && pip install . && python -m jaxrnn.train"
)


def test_readme_is_short_and_has_the_two_commands():
    text = README.read_text()
    assert len(text.splitlines()) <= 300
    assert f"```bash\n{TEST_COMMAND}\n```" in text
    assert f"```bash\n{INSTALL_COMMAND}\n```" in text
    # .ci/run runs the README's test command, verbatim
    assert TEST_COMMAND in (ROOT / ".ci" / "run").read_text()
    assert "mkdocs serve" in text and "mkdocs build --strict" in text


def test_readme_links_resolve():
    text = README.read_text()
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert local, "the README links into the docs"
    missing = [link for link in local if not (ROOT / link).exists()]
    assert not missing, missing


def test_readme_python_block_runs():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) == 1
    proc = subprocess.run(
        [sys.executable, "-c", blocks[0] + "\nprint(outputs.shape, final.h.shape)"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["(8,", "15,", "256)", "(6,", "8,", "128)"]
