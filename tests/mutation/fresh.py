"""Collect fresh (out-of-sample) mutation draws into ``docs/benchmarks/mutation_fresh.json``.

A "fresh draw" is ``run.py --sample 30 --seed S`` at a seed no test was written against,
run on a frozen clone of the commit *before* any fix: its score is an honest estimate of the
module's mutation score, unlike a re-score of the draw the fixes were written for. This
script merges such ``run.py --out`` files and records, per survivor, what was done about it
afterwards (``--outcomes``, a JSON object ``{"path:line: change": "what became of it"}``)::

    python tests/mutation/fresh.py --outcomes outcomes.json draw1.json draw2.json ...

Entries are keyed ``module@seed``; those already in ``--out`` and not redrawn are kept.
Entries keep ``run.py``'s fields (score, interval, survivors...) unchanged; ``outcomes`` is
added beside them, and a survivor with no outcome is an error (every one must be accounted
for).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[2] / "docs" / "benchmarks" / "mutation_fresh.json"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("draws", nargs="+", help="run.py --out files (fresh draws, before fixes)")
    ap.add_argument("--outcomes", required=True, help="JSON {mutant: what became of it}")
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    outcomes = json.loads(Path(args.outcomes).read_text())
    out = Path(args.out)
    # a draw of the same module at the same seed replaces its entry; the others are kept
    modules: dict[str, dict] = json.loads(out.read_text())["modules"] if out.exists() else {}
    for path in args.draws:
        for name, e in json.loads(Path(path).read_text())["modules"].items():
            survivors = [s["mutant"] if isinstance(s, dict) else s for s in e["survivors"]]
            missing = [s for s in survivors if s not in outcomes]
            if missing:
                raise SystemExit(f"{path}: {name}: no outcome for {missing}")
            # one entry per draw: a module drawn again at another seed keeps both
            modules[f"{name}@{e['seed']}"] = {**e, "outcomes": {s: outcomes[s] for s in survivors}}
    payload = {"about": "fresh mutation draws (run.py --sample 30 at a seed no test was "
                        "written against), scored before any fix; outcomes: what each "
                        "survivor became afterwards",
               "score_is": "killed / (mutants - equivalent); a timeout counts as killed",
               "modules": modules}  # fmt: skip
    out.write_text(json.dumps(payload, indent=1) + "\n")
    print(f"wrote {args.out}: {', '.join(modules)}")


if __name__ == "__main__":
    main()
