"""The documentation site: it builds in strict mode, its benchmark tables come from the
committed JSON, and every Python block of its pages runs as written, outside this session
(float32, as users run it). The blocks share one fresh process, each in its own namespace,
which saves a JAX start-up per block; a block that sets ``XLA_FLAGS`` gets its own."""

import ast
import importlib.util
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
# Written by scripts (python -m jaxrnn.study / sweep, benchmarks/): results, not guides.
GENERATED = ("study", "sweep", "benchmarks")


def pages() -> list[pathlib.Path]:
    """The hand-written pages under docs/ (not the folders the scripts write)."""
    return sorted(p for p in DOCS.rglob("*.md") if p.relative_to(DOCS).parts[0] not in GENERATED)


def python_blocks() -> dict[str, str]:
    """Every ```python block of the pages, keyed ``page.md:index``."""
    blocks = {}
    for page in pages():
        rel = page.relative_to(DOCS).as_posix()
        for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), re.S)):
            blocks[f"{rel}:{i}"] = code
    return blocks


def run(code: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=600, cwd=ROOT, env={**os.environ, **(env or {})})  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def check_layers(out: str) -> None:
    assert out.split() == ["(8,", "15,", "256)", "(6,", "8,", "128)"], out


def check_own_loop(out: str) -> None:
    m = re.search(r"test loss ([0-9.]+), test accuracy ([0-9.]+)", out)
    assert m, out
    # 15 epochs of Adam at 1e-2: the GRU learns the bundled data (chance is 0.5)
    assert float(m.group(2)) >= 0.8 and float(m.group(1)) < 0.5


def check_fit_predictor(out: str) -> None:
    lines = out.strip().splitlines()
    assert "'test_acc'" in lines[0]
    assert lines[1].startswith("negative ") and lines[1].endswith("i am not happy")
    assert lines[2].startswith("positive ") and lines[2].endswith("this is very good")


def check_python_guide(out: str) -> None:
    lines = out.strip().splitlines()
    assert lines[0] == "0.01 [0, 1]" and "2 4" in lines  # the preset's lr; 2 seeds x 4 epochs
    assert lines[-1].split()[0] == "Predictor"  # load_predictor picked the classifier's


def check_python_dataset(out: str) -> None:
    assert out.startswith("['bad', 'good'] 16 4\n"), out  # a stratified 80/20 split of 20


def check_python_from_parts(out: str) -> None:
    assert "'negative'" in out and "'positive'" in out and "\n3 " in out, out


def check_python_tasks(out: str) -> None:
    assert "'tokens': ['we', 'flew', 'to', 'Berlin', '.'], 'tags': [" in out
    assert "{'target': 'load', 'window': 12, 'forecast': [" in out
    assert out.strip().splitlines()[-1].startswith("the ")  # a sample after its prime


# Every block the pages hold, with what its output must show (None: it must run cleanly).
# A block added, moved or removed without this table changing fails test_blocks_are_known.
BLOCKS = {
    "guides/own-loop.md:0": ("print(outputs.shape, final.h.shape)", check_layers),
    "guides/own-loop.md:1": ("", check_own_loop),
    "guides/own-loop.md:2": ("", check_fit_predictor),
    "guides/language-models.md:0": ("print(logits.shape, text_ids.shape)", None),
    "guides/scaling.md:0": ("print(jax.tree.map(jnp.shape, g))", None),
    "scratch.md:0": ("print(res.history[-1])", None),
    "guides/interop.md:0": ("print(type(back).__name__, outputs.shape)", None),
    "guides/python.md:0": ("", check_python_guide),
    "guides/python.md:1": ("", check_python_dataset),
    "guides/python.md:2": ("", check_python_from_parts),
    "guides/python.md:3": ("", check_python_tasks),
    "guides/numeric.md:0": ("", lambda out: out.split() == ["['down',", "'up']", "(3,", "2)"]
                            or pytest.fail(out)),  # fmt: skip
}


def test_blocks_are_known():
    assert sorted(python_blocks()) == sorted(BLOCKS)


# One process runs the blocks it is given (JSON on stdin), each in a fresh namespace with its
# stdout captured, and prints each block's output or traceback as JSON.
SHARED_RUNNER = r"""
import contextlib, io, json, sys, traceback
out = {}
for key, code in json.load(sys.stdin).items():
    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf):
            exec(compile(code, key, "exec"), {"__name__": "__main__"})
        out[key] = {"ok": True, "out": buf.getvalue()}
    except BaseException:
        out[key] = {"ok": False, "out": buf.getvalue() + traceback.format_exc()}
print("BLOCKS " + json.dumps(out))
"""


def _flags_line(code: str) -> re.Match | None:
    """A block whose first line is "# XLA_FLAGS=... (set before JAX starts)" runs with it."""
    return re.match(r"# XLA_FLAGS=(\S+)", code)


@pytest.fixture(scope="module")
def shared_outputs() -> dict[str, dict]:
    blocks = python_blocks()
    todo = {k: blocks[k] + "\n" + extra for k, (extra, _) in BLOCKS.items()
            if k in blocks and not _flags_line(blocks[k])}  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", SHARED_RUNNER], input=json.dumps(todo),
                          capture_output=True, text=True, timeout=900, cwd=ROOT)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("BLOCKS "))
    return json.loads(line.removeprefix("BLOCKS "))


@pytest.mark.parametrize("key", sorted(BLOCKS))
def test_python_block_runs(key, shared_outputs):
    code = python_blocks()[key]
    extra, check = BLOCKS[key]
    m = _flags_line(code)
    if m:  # its own process (after the session's fast-compile flags, which it would drop)
        flags = f"{os.environ.get('XLA_FLAGS', '')} {m.group(1)}".strip()
        out = run(code + "\n" + extra, env={"XLA_FLAGS": flags})
    else:
        res = shared_outputs[key]
        assert res["ok"], res["out"][-3000:]
        out = res["out"]
    if check is not None:
        check(out)
    if key == "guides/scaling.md:0":
        assert "(512, 128)" in out  # the gradients of the LSTM's weights came back whole
    if key == "guides/interop.md:0":
        assert out.split()[0] == "LSTM" and "(4, 7, 64)" in out


def test_blocks_import_the_new_paths():
    """The pages teach the package's paths, not the aliases kept for old code."""
    from jaxrnn import _aliases

    old = set(_aliases.MODULES)
    used = []
    for key, code in python_blocks().items():
        for node in ast.walk(ast.parse(code)):
            if isinstance(node, ast.Import):
                used += [(key, a.name) for a in node.names if a.name in old]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
                used += [(key, n) for n in names if n in old]
    assert used == []


def _resolves(dotted: str) -> bool:
    """``jaxrnn.a.b.c``: the longest importable module prefix, then attributes."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def test_names_and_paths_in_the_pages_exist():
    """Every `jaxrnn.x.y` the pages name resolves (and is no alias of an old path, but
    where the layout paragraph names the aliases), every `jaxrnn/...` file exists."""
    from jaxrnn import _aliases

    bad = []
    for page in [*pages(), ROOT / "README.md"]:
        text = page.read_text()
        for name in set(re.findall(r"`(jaxrnn(?:\.[A-Za-z_]\w*)+)", text)):
            alias_ok = page.name == "index.md" and name in ("jaxrnn.loop", "jaxrnn.train.cli")
            if not _resolves(name) or (name in _aliases.MODULES and not alias_ok):
                bad.append(f"{page.name}: {name}")
        for path in set(re.findall(r"`(jaxrnn/[\w./]+)`", text)):
            if not (ROOT / path).exists():
                bad.append(f"{page.name}: {path}")
    assert bad == []


def test_mkdocs_build_strict(tmp_path):
    """A broken link or anchor, a page missing from the nav, a bad mkdocstrings reference
    or an unknown table marker fails the build."""
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-d", str(tmp_path)],
        capture_output=True, text=True, timeout=300, cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-5000:]
    api = (tmp_path / "api" / "nn" / "index.html").read_text()
    assert 'id="jaxrnn.nn.cells.lstm_step"' in api  # the API reference is generated
    bench = (tmp_path / "benchmarks" / "index.html").read_text()
    assert "<!-- table:" not in bench and ">2.71x</td>" in bench  # tables were filled


def _gen_tables():
    spec = importlib.util.spec_from_file_location("gen_tables", DOCS / "gen_tables.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_table_is_used_and_every_marker_known():
    gen = _gen_tables()
    used = {m for p in pages() for m in gen.MARKER.findall(p.read_text())}
    assert used == set(gen.TABLES)


def test_tables_come_from_the_json():
    """The rendered numbers are the JSON's, rounded: a changed JSON changes the page."""
    gen = _gen_tables()
    presets = json.loads((DOCS / "benchmarks" / "vs_numpy.json").read_text())["presets"]
    rows = gen.vs_numpy_presets_epoch().splitlines()[2:8]
    for row, rec in zip(rows, presets["per_epoch"], strict=True):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == f"`{rec['model']}`"
        assert float(cells[1].replace(",", "")) == pytest.approx(rec["numpy_ms_per_epoch"], 5e-3)
        assert float(cells[3].rstrip("x")) == pytest.approx(rec["speedup_per_epoch"], 5e-3)
    scale = json.loads((DOCS / "benchmarks" / "scale.json").read_text())["rows"]
    ours = next(r for r in scale if r["name"] == "ours")
    keras = next(r for r in scale if r["name"] == "keras")
    ratio = f"{keras['epoch_s'] / ours['epoch_s']:.2f}x"
    assert f"| {ratio} |" in gen.scale()
    assert gen.sig(4305.6) == "4,310" and gen.sig(0.85875) == "0.859"
    assert gen.sig(0.22474, max_decimals=2) == "0.22"
    with pytest.raises(KeyError, match="unknown table"):
        gen.fill("<!-- table: no_such_table -->")


def test_api_reference_covers_the_top_level_names():
    """Every name ``jaxrnn`` exports is in the top-level API page's table."""
    import jaxrnn

    page = (DOCS / "api" / "jaxrnn.md").read_text()
    missing = [n for n in jaxrnn.__all__ if f"`{n}`" not in page]
    assert not missing, missing
