"""Old import paths and ``python -m`` names, kept working after the move to folders by kind.

Until version 0.1.0 the package was flat (``jaxrnn.cells``, ``jaxrnn.loop``,
``jaxrnn.train.cli``, ...). Code outside this repository imports those names and
scripts run ``python -m jaxrnn.train``, so each old name is an alias of the module that
now holds it: ``import jaxrnn.loop`` gives the very module object
``jaxrnn.training.loop`` (not a copy), and ``python -m jaxrnn.predict`` runs
``jaxrnn.cli.predict``. New code, in this repository too, imports the new names
(``tests/test_layout.py`` checks it).

``MODULES`` maps an old module to the one that replaced it; ``COMMANDS`` maps an old
``python -m`` name to the command module it runs, where that differs from ``MODULES``.
``install()`` (called by ``jaxrnn/__init__.py``) puts one finder first on
``sys.meta_path``: it answers only for the names in these tables (none of which is a real
module), and must come first because ``jaxrnn.train`` *is* ``jaxrnn.runs``, so the path
finder would otherwise load ``jaxrnn.train.build`` a second time from ``runs/build.py``.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
from types import CodeType, ModuleType

MODULES: dict[str, str] = {
    # the network
    "jaxrnn.cells": "jaxrnn.nn.cells",
    "jaxrnn.sequence": "jaxrnn.nn.sequence",
    "jaxrnn.bptt": "jaxrnn.nn.bptt",
    "jaxrnn.models": "jaxrnn.nn.models",
    "jaxrnn.lm": "jaxrnn.nn.lm",
    "jaxrnn.interop": "jaxrnn.nn.interop",
    "jaxrnn._vma": "jaxrnn.nn._vma",
    # weights shared by both backends
    "jaxrnn.layout": "jaxrnn.weights.layout",
    "jaxrnn.scratch.init": "jaxrnn.weights.init",
    # the training core
    "jaxrnn.tasks": "jaxrnn.training.tasks",
    "jaxrnn.loop": "jaxrnn.training.loop",
    "jaxrnn.study_sgd": "jaxrnn.training.per_sample_sgd",
    "jaxrnn.checkpoint": "jaxrnn.training.checkpoint_file",
    "jaxrnn.distributed": "jaxrnn.training.distributed",
    # runs
    "jaxrnn.config": "jaxrnn.runs.config",
    "jaxrnn.results": "jaxrnn.runs.results",
    "jaxrnn.train": "jaxrnn.runs",
    "jaxrnn.train.data": "jaxrnn.runs.prepare",
    "jaxrnn.train.lm_data": "jaxrnn.runs.prepare_lm",
    "jaxrnn.train.build": "jaxrnn.runs.build",
    "jaxrnn.train.checkpoints": "jaxrnn.runs.checkpoints",
    "jaxrnn.train.interrupt": "jaxrnn.runs.interrupt",
    "jaxrnn.train.jax_masks": "jaxrnn.runs.jax_masks",
    "jaxrnn.train.jax_run": "jaxrnn.runs.jax_run",
    "jaxrnn.train.memory": "jaxrnn.runs.memory",
    "jaxrnn.train.numpy_lm": "jaxrnn.runs.numpy_lm",
    "jaxrnn.train.numpy_run": "jaxrnn.runs.numpy_run",
    "jaxrnn.train.plan": "jaxrnn.runs.plan",
    "jaxrnn.train.progress": "jaxrnn.runs.progress",
    "jaxrnn.train.registry": "jaxrnn.runs.registry",
    "jaxrnn.train.report": "jaxrnn.runs.report",
    "jaxrnn.train.run": "jaxrnn.runs.run",
    "jaxrnn.train.task_classify": "jaxrnn.runs.task_classify",
    "jaxrnn.train.task_lm": "jaxrnn.runs.task_lm",
    "jaxrnn.train.task_regress": "jaxrnn.runs.task_regress",
    "jaxrnn.train.task_tag": "jaxrnn.runs.task_tag",
    # evaluation
    "jaxrnn.metrics": "jaxrnn.evaluation.metrics",
    "jaxrnn.spans": "jaxrnn.evaluation.spans",
    # data: the generators apart from the loaders
    "jaxrnn.data.synthetic": "jaxrnn.data.generators.synthetic",
    "jaxrnn.data.compositional": "jaxrnn.data.generators.compositional",
    "jaxrnn.data.tagging": "jaxrnn.data.generators.entities",
    # the commands
    "jaxrnn.train.cli": "jaxrnn.cli.train",
    "jaxrnn.predict": "jaxrnn.cli.predict",
    "jaxrnn.predict_seq": "jaxrnn.cli.predict",  # the tagger's and forecaster's command
    "jaxrnn.cli.predict_seq": "jaxrnn.cli.predict",  # joined the classifier's
    "jaxrnn.generate": "jaxrnn.cli.generate",
    "jaxrnn.sweep": "jaxrnn.cli.sweep",
    "jaxrnn.paired": "jaxrnn.cli.paired",
    "jaxrnn.study.cli": "jaxrnn.cli.study",
    # small utilities
    "jaxrnn._atomic": "jaxrnn.util.atomic",
    "jaxrnn._cache": "jaxrnn.util.cache",
    "jaxrnn._pipes": "jaxrnn.util.pipes",
}

# ``python -m NAME`` (an old name, or a short public one such as ``jaxrnn.plot``) runs the
# command module NEW (a package's ``-m`` runs its ``__main__``), or, for
# ``"module:function"``, ``sys.exit(jaxrnn.cli._common.run(function))``. Only ``-m`` reads
# this table where NAME is also in ``MODULES``: ``import NAME`` still gives that module.
COMMANDS: dict[str, str] = {
    "jaxrnn.plot": "jaxrnn.cli.plot",
    "jaxrnn.train.__main__": "jaxrnn.cli.train",
    "jaxrnn.study.__main__": "jaxrnn.cli.study",
    # the data generators' commands; not jaxrnn.data.series and jaxrnn.data.text: real
    # modules, which no alias may answer for (a hook in each forwards to jaxrnn.cli.make_data)
    "jaxrnn.data.synthetic": "jaxrnn.cli.make_data:synthetic",
    "jaxrnn.data.compositional": "jaxrnn.cli.make_data:compositional",
    "jaxrnn.data.tagging": "jaxrnn.cli.make_data:tagging",
}


def _run_command(command: str, namespace: dict) -> None:
    """Run the code of command module ``command`` in ``runpy``'s ``__main__`` namespace, as
    ``python -m`` would have (``get_code``'s stub calls it once the process runs under the
    huge-page tunable)."""
    spec = importlib.util.find_spec(command)
    exec(spec.loader.get_code(command), namespace)  # type: ignore[union-attr]


class _AliasLoader(importlib.abc.Loader):
    """Imports ``target`` and hands back that module; ``get_code`` serves ``python -m``
    (``command``, else ``target``)."""

    def __init__(self, target: str, command: str | None = None):
        self.target, self.command = target, command
        self.real_spec: importlib.machinery.ModuleSpec | None = None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        module = importlib.import_module(self.target)
        self.real_spec = module.__spec__
        return module

    def exec_module(self, module: ModuleType) -> None:
        # The import system has set __spec__ to the alias's spec: put the real one back.
        module.__spec__ = self.real_spec

    def get_code(self, fullname: str) -> CodeType | None:  # runpy: ``python -m old.name``
        command = self.command or self.target
        # A command first runs itself again under glibc's huge-page tunable where it lacks it
        # (``jaxrnn.util.allocator``), before its imports: done in ``jaxrnn.cli._common.run``
        # alone, the first process imported NumPy and the command's modules for nothing
        # (~0.4 s of CPU of every command, measured 2026-12-07).
        first = ("from jaxrnn.util.allocator import use_huge_pages\nuse_huge_pages()\n"
                 if command.startswith("jaxrnn.cli.") else "")  # fmt: skip
        if ":" in command:  # a function of a command module: run it as an entry point
            module, function = command.split(":")
            source = (f"{first}import sys\nfrom jaxrnn.cli._common import run\n"
                      f"from {module} import {function}\nsys.exit(run({function}))\n")
            return compile(source, f"<python -m {fullname}>", "exec")
        if first:  # a stub: the re-run, then the command module's code
            source = (f"{first}from jaxrnn._aliases import _run_command\n"
                      f"_run_command({command!r}, globals())\n")
            return compile(source, f"<python -m {fullname}>", "exec")
        spec = importlib.util.find_spec(command)
        return spec.loader.get_code(command)  # type: ignore[union-attr]


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname: str, path=None, target=None):
        command = COMMANDS.get(fullname)
        new = MODULES.get(fullname) or (command.split(":")[0] if command else None)
        if new is None:
            return None
        real = importlib.util.find_spec(new)
        if real is None:
            return None
        spec = importlib.machinery.ModuleSpec(
            fullname, _AliasLoader(new, command), origin=real.origin,
            is_package=real.submodule_search_locations is not None,
        )
        if real.submodule_search_locations is not None:
            # ``python -m jaxrnn.train`` looks for ``jaxrnn.train.__main__`` under this path.
            spec.submodule_search_locations = []
        return spec


def install() -> None:
    """Put the alias finder first on ``sys.meta_path``, once."""
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())
