"""The package's layout: folders by kind, the layering contract, and the old names kept working."""

import ast
import importlib
import pathlib
import subprocess
import sys

import pytest

from jaxrnn import _aliases

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "jaxrnn"


def test_layering_contract_holds():
    """``[tool.importlinter]`` in pyproject.toml: each layer imports only the layers below it,
    the JAX core never imports the NumPy reference, and the NumPy side never imports JAX."""
    from importlinter.cli import lint_imports

    assert lint_imports(config_filename=str(ROOT / "pyproject.toml")) == 0


def test_top_level_holds_only_the_package_entry():
    """Every module lives in a folder named for its kind; the top level keeps the public
    entry (``__init__``), the error types and the alias table."""
    top = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert top == ["__init__.py", "_aliases.py", "errors.py"]


@pytest.mark.parametrize("old", sorted(_aliases.MODULES))
def test_old_import_path_is_the_new_module(old):
    new = _aliases.MODULES[old]
    assert importlib.import_module(old) is importlib.import_module(new)
    assert importlib.import_module(old).__spec__.name == new  # the real spec, not the alias's


def test_old_from_imports_work():
    from jaxrnn.loop import train_step
    from jaxrnn.train import fit

    from jaxrnn.training.loop import train_step as new_train_step

    assert train_step is new_train_step and callable(fit)


def _imports(path: pathlib.Path) -> list[str]:
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
            names += [f"{node.module}.{a.name}" for a in node.names]
    return names


def test_code_here_imports_the_new_paths():
    """The aliases are for code outside this repository: nothing here uses them."""
    old = set(_aliases.MODULES) | set(_aliases.COMMANDS)
    used = [
        f"{p.relative_to(ROOT)}: {name}"
        for folder in ("jaxrnn", "tests", "benchmarks")
        for p in sorted((ROOT / folder).rglob("*.py"))
        if p.name not in ("_aliases.py", "test_layout.py")
        for name in _imports(p)
        if name in old
    ]
    assert used == []


def test_old_command_names_run():
    """``python -m jaxrnn.train`` (and every other old ``-m`` name) runs its command."""
    names = ["jaxrnn.train", "jaxrnn.predict", "jaxrnn.generate", "jaxrnn.sweep",
             "jaxrnn.paired", "jaxrnn.study", "jaxrnn.data.synthetic",
             "jaxrnn.data.compositional", "jaxrnn.data.tagging"]  # fmt: skip
    code = (
        "import runpy, sys\n"
        f"for name in {names!r}:\n"
        "    sys.argv = [name, '--help']\n"
        "    try:\n"
        "        runpy.run_module(name, run_name='__main__', alter_sys=True)\n"
        "    except SystemExit as e:\n"
        "        print('EXIT', name, e.code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    exits = [line.split() for line in proc.stdout.splitlines() if line.startswith("EXIT ")]
    assert exits == [["EXIT", n, "0"] for n in names], proc.stdout[-2000:]
    for n in names:  # each printed its own usage line
        assert f"usage: python -m {n}" in proc.stdout or f"usage: {n}" in proc.stdout, n
