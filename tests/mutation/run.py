"""Mutation testing for the modules whose numbers users trust (issue 29): a small AST mutator.

Not part of the test suite (pytest collects ``test_*.py`` only; nothing here is a test) and
not run in CI: a full run takes hours. mutmut is not used: it forks after JAX is imported,
and JAX's threads deadlock in the fork.

Each mutant is one small change to one module (an operator, a comparison, a constant, ...).
The mutated module is written into a temporary copy of the repository (the checkout is
never touched), and the module's mapped test files run against it in a fresh
``python -m pytest -x -n 0`` process. A failing run kills the mutant; a run past
``--timeout-factor`` times the clean run's time counts as killed (a timeout); a passing run
is a survivor. Mutants on lines that the mapped tests never execute (measured once, in the
clean run, by a line tracer in every Python process the tests start) are survivors marked
``not covered`` without being run. Mutants listed in ``tests/mutation/equivalent.txt`` are
counted as equivalent (the same behaviour as the original) and are not run.

    score = killed / (mutants - equivalent)

With ``--sample N`` only N mutants per module (drawn with ``--seed``) are judged, and the
score carries a 95% Wilson interval. The results are printed (every survivor as
``path:line: original -> mutated``) and merged into ``docs/benchmarks/mutation.json``
(one entry per module; the other modules' entries are kept).

    PYTHONPATH=. python tests/mutation/run.py --list --modules spans
    PYTHONPATH=. python tests/mutation/run.py --modules spans,metrics
    PYTHONPATH=. python tests/mutation/run.py --modules lm --sample 40 --seed 0
"""

from __future__ import annotations

import argparse
import ast
import copy
import datetime
import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EQUIVALENT = Path(__file__).resolve().parent / "equivalent.txt"
DEFAULT_OUT = ROOT / "docs" / "benchmarks" / "mutation.json"

# module name -> (source file, the test files that exercise it, the most direct first: the
# run stops at the first failure).
MODULES: dict[str, tuple[str, list[str]]] = {
    "spans": ("jaxrnn/evaluation/spans.py", ["tests/test_spans.py"]),
    "metrics": ("jaxrnn/evaluation/metrics.py", ["tests/test_metrics.py"]),
    "checkpoints": ("jaxrnn/runs/checkpoints.py", ["tests/test_checkpoint.py"]),
    "checkpoint_file": ("jaxrnn/training/checkpoint_file.py", ["tests/test_checkpoint.py"]),
    "memory": ("jaxrnn/runs/memory.py", [
        "tests/test_memory.py",
        "tests/test_scale.py::test_memory_estimate_is_near_xla_and_a_run_that_cannot_fit_says_so",
        "tests/test_scale.py::test_memory_estimate_follows_a_measured_peak_over_layers_"
        "directions_and_widths"]),
    "buckets": ("jaxrnn/data/buckets.py", [
        "tests/test_buckets.py", "tests/test_scale.py::test_bucket_bounds_are_the_least_padding",
        "tests/test_scale.py::test_schedule_visits_every_row_once_in_whole_buckets"]),
    "lm": ("jaxrnn/nn/lm.py", ["tests/test_lm.py"]),
    "cells": ("jaxrnn/nn/cells.py", ["tests/test_layers.py", "tests/test_cell_registry.py"]),
    "loop": ("jaxrnn/training/loop.py", [
        "tests/test_loop.py",
        "tests/test_scale.py::test_bucketed_evaluation_equals_padded_evaluation",
        "tests/test_scale.py::test_a_bucketed_epoch_takes_the_scheduled_steps",
        "tests/test_scale.py::test_evaluating_splits_together_equals_one_by_one",
        "tests/test_scale.py::test_a_chunked_epoch_on_length_sorted_rows_takes_the_scheduled_"
        "steps",
        "tests/test_scale.py::test_a_tagger_trains_on_length_buckets_and_reports_in_row_order",
        "tests/test_generalise.py::test_early_stop_update_keeps_the_best_params_and_stops_after_"
        "patience",
        "tests/test_generalise.py::test_a_patience_stop_puts_the_best_params_back_in_the_state",
        "tests/test_generalise.py::test_last_epoch_restores_the_best_params_without_a_stop"]),
    "bptt": ("jaxrnn/nn/bptt.py", [
        "tests/test_bptt.py",
        "tests/test_scale.py::test_chunked_loops_give_the_whole_sequence_numbers"]),
    "tasks": ("jaxrnn/training/tasks.py", ["tests/test_regress_task.py", "tests/test_loop.py",
                                          "tests/test_tag_task.py",
                                          "tests/test_lm_batches.py"]),
    "sequence": ("jaxrnn/nn/sequence.py", ["tests/test_layers.py"]),
    "scratch.layers": ("jaxrnn/scratch/layers.py", ["tests/test_scratch_layers.py"]),
    "scratch.seq": ("jaxrnn/scratch/seq.py", ["tests/test_scratch_seq.py",
                                            "tests/test_char_tagger.py::"
                                            "test_gradient_matches_numpy_twin"]),
    "scratch.optim": ("jaxrnn/scratch/optim.py", ["tests/test_scratch_optim.py"]),
    "scratch.rnn": ("jaxrnn/scratch/rnn.py", ["tests/test_scratch.py"]),
    "scratch.parallel_cells": ("jaxrnn/scratch/parallel_cells.py",
                               ["tests/test_scratch_parallel.py"]),
    "scratch.classifier_train": ("jaxrnn/scratch/classifier_train.py",
                                 ["tests/test_scratch_train.py"]),
    "scratch.chars": ("jaxrnn/scratch/chars.py", ["tests/test_char_encoder.py"]),
}

# ---------------------------------------------------------------------------------------------
# Mutants

_BINOP_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
               ast.FloorDiv: ast.Div, ast.Pow: ast.Mult, ast.Mod: ast.FloorDiv}
_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
             ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
             ast.In: ast.NotIn, ast.NotIn: ast.In}
# Calls whose arguments are messages, not behaviour.
_MESSAGE_CALLS = {"print", "warn", "warning", "info", "debug", "error", "log", "exception"}
_SHORT = 70
# Functions not mutated: what they compute is a picture, not a number (their survivors would
# be figure sizes and font sizes). Recorded in the JSON.
SKIP_FUNCTIONS = {"plot_confusion": "draws the confusion matrix (figure and font sizes, colours)"}


def _short(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= _SHORT else text[:_SHORT - 3] + "..."


@dataclass
class Mutant:
    module: str
    path: str
    line: int
    op: str
    original: str
    mutated: str
    stmt_lines: tuple[int, int]
    index: int = 0  # position in the module's list (changes when code moves: not a key)
    occurrence: int = 1  # the n-th mutant with the same line and text
    status: str = ""  # killed | timeout | survived | not covered | equivalent | error
    reason: str = ""
    seconds: float = 0.0

    @property
    def text(self) -> str:
        extra = f" #{self.occurrence}" if self.occurrence > 1 else ""
        return f"{self.original} -> {self.mutated}{extra}"

    @property
    def key(self) -> str:
        return f"{self.path}:{self.line}: {self.text}"


@dataclass
class _Site:
    node: ast.AST
    line: int
    op: str
    apply: object  # () -> None, changes the tree
    revert: object  # () -> None, restores it
    show: ast.AST  # the node whose text shows the change
    stmt: ast.stmt


def _is_docstring(node: ast.AST) -> bool:
    return (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str))


def _call_name(node: ast.Call) -> str:
    f = node.func
    return f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""


def _no_mutate_lines(source: str) -> set[int]:
    return {i for i, line in enumerate(source.splitlines(), 1) if "pragma: no mutate" in line}


class _Collector:
    """Finds every mutation site in a module's tree (skipping docstrings, annotations,
    strings, ``raise`` statements, message calls, ``assert`` messages, ``__all__`` and
    ``if TYPE_CHECKING`` blocks)."""

    def __init__(self, skip_lines: set[int]):
        self.sites: list[_Site] = []
        self.skip_lines = skip_lines
        self.stmt: ast.stmt | None = None

    def visit(self, node: ast.AST) -> None:
        if isinstance(node, ast.stmt):
            if _is_docstring(node) or isinstance(node, (ast.Raise, ast.Import,
                                                         ast.ImportFrom, ast.Global,
                                                         ast.Nonlocal)):
                return
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                return
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and (
                    node.name in SKIP_FUNCTIONS):
                return
            if isinstance(node, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id.startswith("__") for t in node.targets):
                return
            outer, self.stmt = self.stmt, node
            self._fields(node)
            self.stmt = outer
            return
        if isinstance(node, ast.JoinedStr):
            return
        if isinstance(node, ast.Call) and _call_name(node) in _MESSAGE_CALLS:
            return
        if (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub)
                and isinstance(node.operand, ast.Constant)):  # -1: shown whole
            self._sites(node)
            self._sites(node.operand, show=node)
            return
        self._sites(node)
        self._fields(node)

    def _fields(self, node: ast.AST) -> None:
        for name, value in ast.iter_fields(node):
            if name in ("annotation", "returns", "type_comment", "decorator_list"):
                continue
            if isinstance(node, ast.Assert) and name == "msg":
                continue
            for child in value if isinstance(value, list) else [value]:
                if isinstance(child, ast.AST):
                    self.visit(child)

    def _add(self, node, op, apply, revert, show=None):
        line = getattr(node, "lineno", None) or self.stmt.lineno
        if line in self.skip_lines:
            return
        self.sites.append(_Site(node, line, op, apply, revert, show or node, self.stmt))

    def _sites(self, node: ast.AST, show: ast.AST | None = None) -> None:  # noqa: C901
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOP_SWAP:
            old, new = node.op, _BINOP_SWAP[type(node.op)]()
            self._add(node, "binop", lambda: setattr(node, "op", new),
                      lambda: setattr(node, "op", old))
        elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP_SWAP:
            old, new = node.op, _BINOP_SWAP[type(node.op)]()
            self._add(node, "augassign", lambda: setattr(node, "op", new),
                      lambda: setattr(node, "op", old))
        elif isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) not in _CMP_SWAP:
                    continue
                new = _CMP_SWAP[type(op)]()
                self._add(node, "compare",
                          lambda i=i, new=new: node.ops.__setitem__(i, new),
                          lambda i=i, op=op: node.ops.__setitem__(i, op))
        elif isinstance(node, ast.BoolOp):
            old = node.op
            new = ast.Or() if isinstance(old, ast.And) else ast.And()
            self._add(node, "boolop", lambda: setattr(node, "op", new),
                      lambda: setattr(node, "op", old))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.Not, ast.USub)):
            self._unwrap(node)
        elif isinstance(node, ast.Constant) and not isinstance(node.value, str):
            value = node.value
            if isinstance(value, bool):
                new_value = not value
            elif isinstance(value, int):
                new_value = 0 if value == 1 else value + 1
            elif isinstance(value, float):
                new_value = value + 1.0
            else:
                return
            self._add(node, "constant", lambda: setattr(node, "value", new_value),
                      lambda: setattr(node, "value", value), show)
        elif (isinstance(node, ast.Return) and node.value is not None
              and not (isinstance(node.value, ast.Constant) and node.value.value is None)):
            old = node.value
            self._add(node, "return", lambda: setattr(node, "value", ast.Constant(None)),
                      lambda: setattr(node, "value", old))

    def _unwrap(self, node: ast.UnaryOp) -> None:
        """``-x`` -> ``x`` (a unary plus: the same value without the sign), ``not x`` -> ``x``
        (``_Identity``, dropped when the tree is rendered)."""
        old = node.op
        new = ast.UAdd() if isinstance(old, ast.USub) else _Identity()
        self._add(node, "unary" if isinstance(old, ast.USub) else "not",
                  lambda: setattr(node, "op", new), lambda: setattr(node, "op", old))


class _Identity(ast.UAdd):
    """Marks ``not x`` mutated to ``x`` (rendered without the ``not``)."""


def _render(tree: ast.Module) -> str:
    return ast.unparse(_Strip().visit(copy.deepcopy(tree)))


class _Strip(ast.NodeTransformer):
    def visit_UnaryOp(self, node):  # noqa: N802 - ast's naming
        self.generic_visit(node)
        return node.operand if isinstance(node.op, _Identity) else node


def mutants_of(module: str, path: str) -> tuple[list[Mutant], list[str], str]:
    """The mutants of ``path`` (relative to the root): the list and each one's source."""
    source = (ROOT / path).read_text()
    tree = ast.parse(source)
    collector = _Collector(_no_mutate_lines(source))
    collector.visit(tree)
    mutants, sources, seen = [], [], {}
    for site in collector.sites:
        before = _short(site.show)
        site.apply()
        shown = site.show
        if isinstance(shown, ast.UnaryOp) and isinstance(shown.op, _Identity):
            after = _short(shown.operand)
        else:
            after = _short(shown)
        mutated_source = _render(tree)
        site.revert()
        stmt = site.stmt
        m = Mutant(module, path, site.line, site.op, before, after,
                   (stmt.lineno, stmt.end_lineno or stmt.lineno), index=len(mutants))
        n = seen.get((m.line, m.original, m.mutated), 0) + 1
        seen[(m.line, m.original, m.mutated)] = n
        m.occurrence = n
        mutants.append(m)
        sources.append(mutated_source)
    clean = _render(tree)
    if ast.dump(ast.parse(clean)) != ast.dump(tree):
        raise RuntimeError(f"{path}: ast.unparse does not round-trip")
    return mutants, sources, clean


# ---------------------------------------------------------------------------------------------
# Equivalent mutants: "path:line: original -> mutated  # why", one a line.

def read_equivalent(path: Path = EQUIVALENT) -> dict[str, str]:
    out = {}
    if not path.exists():
        return out
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, _, why = line.partition("  # ")
        out[key.strip()] = why.strip()
    return out


def match_equivalent(m: Mutant, equivalent: dict[str, str], unique: set[str] | None = None
                     ) -> str | None:  # fmt: skip
    """The reason if ``m`` is listed: by path, line and text; failing that, by path and text
    where the text is on one line only (the code moved): ``unique``, the texts that occur once
    among the module's mutants (None: no fallback)."""
    if m.key in equivalent:
        return equivalent[m.key]
    if unique is None or m.text not in unique:
        return None
    hits = [why for key, why in equivalent.items()
            if key.startswith(m.path + ":") and key.split(": ", 1)[1] == m.text]
    return hits[0] if len(hits) == 1 else None


def _unique_texts(mutants: list[Mutant]) -> set[str]:
    texts = [m.text for m in mutants]
    return {t for t in texts if texts.count(t) == 1}


# ---------------------------------------------------------------------------------------------
# Running

# A line tracer started in every Python process of the clean run (through sitecustomize,
# which the copy's PYTHONPATH makes importable), so that lines run only by a CLI subprocess
# count too. Each process appends the lines it ran to $JAXRNN_MUTCOV_OUT.<pid>.
_SITECUSTOMIZE = '''
import os, sys, threading, atexit
_target = os.environ.get("JAXRNN_MUTCOV_FILE")
if _target:
    _lines = set()
    def _local(frame, event, arg):
        if event == "line":
            _lines.add(frame.f_lineno)
        return _local
    def _global(frame, event, arg):
        if frame.f_code.co_filename == _target:
            _lines.add(frame.f_lineno)
            return _local
        return None
    sys.settrace(_global)
    threading.settrace(_global)
    def _write():
        with open(os.environ["JAXRNN_MUTCOV_OUT"] + "." + str(os.getpid()), "w") as f:
            f.write(" ".join(map(str, sorted(_lines))))
    atexit.register(_write)
'''


def make_copy() -> Path:
    """A copy of the repository's files (tracked and untracked-but-not-ignored) in a
    temporary directory."""
    tmp = Path(tempfile.mkdtemp(prefix="jaxrnn-mutation-"))
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                           cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, files):
        src = ROOT / name.decode()
        if src.is_file():
            dst = tmp / "repo" / name.decode()
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
    (tmp / "site").mkdir()
    (tmp / "site" / "sitecustomize.py").write_text(_SITECUSTOMIZE)
    return tmp


def _pytest(tmp: Path, tests: list[str], timeout: float | None, env_extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tmp / "repo"), str(tmp / "site")])
    env.pop("CI", None)
    env.update(env_extra or {})
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-n", "0", "-p", "no:cacheprovider",
           *tests]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, cwd=tmp / "repo", env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, time.monotonic() - start, ""
    return proc.returncode, time.monotonic() - start, proc.stdout[-3000:] + proc.stderr[-2000:]


def clean_run(tmp: Path, path: str, tests: list[str]):
    """Run the tests on the unmutated module, tracing which of its lines run."""
    target = tmp / "repo" / path
    out = tmp / "cov"
    for old in tmp.glob("cov.*"):
        old.unlink()
    rc, seconds, log = _pytest(tmp, tests, None, {"JAXRNN_MUTCOV_FILE": str(target),
                                                  "JAXRNN_MUTCOV_OUT": str(out)})
    lines: set[int] = set()
    for part in tmp.glob("cov.*"):
        lines.update(int(x) for x in part.read_text().split())
    return rc, seconds, lines, log


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _commit() -> str:
    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                         text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def run_module(name: str, tmp: Path, args, equivalent: dict[str, str]) -> dict:
    path, tests = MODULES[name]
    tests = args.tests.split(",") if args.tests else tests
    mutants, sources, clean = mutants_of(name, path)
    target = tmp / "repo" / path
    original = (ROOT / path).read_text()
    started = time.monotonic()
    rc, clean_seconds, covered, log = clean_run(tmp, path, tests)
    skipped = {f: why for f, why in SKIP_FUNCTIONS.items() if f"def {f}(" in original}
    entry = {"module": name, "path": path, "tests": tests, "mutants": len(mutants),
             "not_mutated": skipped,
             "commit": _commit(), "date": datetime.datetime.now(datetime.timezone.utc)
             .strftime("%Y-%m-%d %H:%M UTC"), "clean_seconds": round(clean_seconds, 1)}
    if rc != 0:
        print(f"{name}: the clean run fails (rc {rc}); no score\n{log}", flush=True)
        entry["error"] = f"the clean run fails (rc {rc})"
        return entry
    chosen = list(range(len(mutants)))
    if args.sample and args.sample < len(mutants):
        chosen = sorted(random.Random(f"{args.seed}:{name}").sample(chosen, args.sample))
    # Plain-python test time, without the tracer's cost (which roughly doubles it), is lower
    # than clean_seconds: the timeout's base is generous on purpose (a loaded machine).
    timeout = args.timeout_factor * clean_seconds + 30
    print(f"{name}: {len(mutants)} mutants, {len(chosen)} to judge; clean run "
          f"{clean_seconds:.1f} s (traced), timeout {timeout:.0f} s; tests {' '.join(tests)}",
          flush=True)
    try:
        for i in chosen:
            m = mutants[i]
            why = match_equivalent(m, equivalent, _unique_texts(mutants))
            lo, hi = m.stmt_lines
            if why is not None:
                m.status, m.reason = "equivalent", why
            elif not covered & set(range(lo, hi + 1)):
                m.status, m.reason = "not covered", "the mapped tests never run this line"
            else:
                target.write_text(sources[i])
                code, m.seconds, _ = _pytest(tmp, tests, timeout)
                target.write_text(original)
                m.status = "timeout" if code is None else "survived" if code == 0 else "killed"
                if m.status == "survived":
                    m.reason = "the mapped tests pass"
            if args.verbose or m.status in ("survived", "not covered"):
                print(f"  [{m.status}] {m.key}  ({m.seconds:.0f} s)", flush=True)
    finally:
        target.write_text(original)
    judged = [mutants[i] for i in chosen]
    count = {s: sum(m.status == s for m in judged)
             for s in ("killed", "timeout", "survived", "not covered", "equivalent")}
    killed = count["killed"] + count["timeout"]
    denominator = len(judged) - count["equivalent"]
    score = killed / denominator if denominator else 1.0
    entry.update({
        "ran": len(judged), "sampled": len(judged) < len(mutants), "seed": args.seed,
        "killed": killed, "timeouts": count["timeout"],
        "survived": count["survived"] + count["not covered"],
        "not_covered": count["not covered"], "equivalent": count["equivalent"],
        "score": round(score, 4), "timeout_s": round(timeout, 1),
        "wall_seconds": round(time.monotonic() - started, 1),
        "survivors": [{"mutant": m.key, "op": m.op, "status": m.status, "reason": m.reason}
                      for m in judged if m.status in ("survived", "not covered")],
        "equivalents": [{"mutant": m.key, "reason": m.reason}
                        for m in judged if m.status == "equivalent"],
    })
    if entry["sampled"]:
        entry["interval95"] = [round(x, 4) for x in wilson(killed, denominator)]
    return entry


def summary_line(e: dict) -> str:
    if "error" in e:
        return f"{e['module']:<24} error: {e['error']}"
    interval = (f" (95% {e['interval95'][0]:.0%}-{e['interval95'][1]:.0%})"
                if e.get("interval95") else "")
    return (f"{e['module']:<24} mutants {e['mutants']:>4}  ran {e['ran']:>4}  killed "
            f"{e['killed']:>4}  survived {e['survived']:>3}  equivalent {e['equivalent']:>3}"
            f"  score {e['score']:.1%}{interval}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--modules", default=",".join(MODULES),
                        help=f"comma-separated, of: {', '.join(MODULES)}")
    parser.add_argument("--sample", type=int, default=0,
                        help="judge only N mutants per module (0: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout-factor", type=float, default=3.0)
    parser.add_argument("--tests", default="", help="override the module's test files "
                        "(comma-separated; one module only)")
    parser.add_argument("--list", action="store_true", help="print the mutants, run nothing")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    parser.add_argument("--verbose", action="store_true", help="print every mutant's result")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.modules.split(",") if n.strip()]
    unknown = [n for n in names if n not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {unknown}; known: {', '.join(MODULES)}")
    if args.list:
        equivalent = read_equivalent()
        for name in names:
            mutants, _, _ = mutants_of(name, MODULES[name][0])
            print(f"{name}: {len(mutants)} mutants")
            for m in mutants:
                eq = ("  [equivalent]" if match_equivalent(m, equivalent, _unique_texts(mutants))
                      is not None else "")  # fmt: skip
                print(f"  {m.key}{eq}")
        return 0
    # a kill (SIGTERM) unwinds like Ctrl-C: the running pytest is killed, the copy removed
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    equivalent = read_equivalent()
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {"modules": {}}
    tmp = make_copy()
    entries = []
    try:
        for name in names:
            entry = run_module(name, tmp, args, equivalent)
            entries.append(entry)
            print(summary_line(entry), flush=True)
            results["modules"][name] = entry
            results["score_is"] = "killed / (mutants - equivalent); a timeout counts as killed"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps(results, indent=1) + "\n")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("\nsummary")
    for e in entries:
        print(summary_line(e))
        for s in e.get("survivors", []):
            print(f"    {s['mutant']}  [{s['status']}]")
    return 0


if __name__ == "__main__":
    sys.exit(main())
