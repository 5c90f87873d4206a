"""mkdocs hook: fill the benchmark tables from ``docs/benchmarks/*.json`` at build time."""

from __future__ import annotations

import importlib.util
import pathlib

_spec = importlib.util.spec_from_file_location(
    "jaxrnn_docs_gen_tables", pathlib.Path(__file__).with_name("gen_tables.py")
)
gen_tables = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(gen_tables)


def on_page_markdown(markdown: str, **kwargs) -> str:
    return gen_tables.fill(markdown)
