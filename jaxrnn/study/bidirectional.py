"""The study's claim about BiLSTMs, put to a test: forward LSTM vs BiLSTM on per-token tagging.

The study announced a BiLSTM because "understanding both past and future context is
crucial"; a sentence label barely needs the future, a tag per token can. On
``jaxrnn.data.generators.entities``'s task (an ambiguous name's type is decided by a cue phrase
before it in half of the sentences and after it in the rest) both models are trained
with the same settings (``--task tag`` presets: embedding 32, hidden 64 per direction,
Adam 1e-2, batch 32, 10 epochs) over the same seeds, and scored on the test split with
conlleval's span F1. Besides the overall scores, the main name's tags are checked per
group (ambiguous or not x cue before or after): a forward reader cannot know an
ambiguous name's type when the cue comes after it, so there it is at chance (1/3).

``run`` returns the JSON section (means, std, 95% t-intervals over seeds, the paired
difference, per-seed values); ``markdown`` renders it. ``python -m jaxrnn.study --part
bidirectional`` runs it (``--quick``: 2 seeds, 240 sentences, 3 epochs of batch 8).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np

MODELS = {"lstm": "forward LSTM", "bilstm": "BiLSTM"}
GROUPS = ("ambiguous, cue before", "ambiguous, cue after", "unambiguous, cue before",
          "unambiguous, cue after")  # fmt: skip
# None: the --task tag preset (10 epochs, batch 32)
FULL = dict(n_train=2000, n_test=500, epochs=None, batch_size=None)
QUICK = dict(n_train=240, n_test=60, epochs=3, batch_size=8)


def _data(n_train: int, n_test: int, seed: int = 0):
    from jaxrnn.data.conll import TagVocab
    from jaxrnn.data.generators.entities import make_tagging
    from jaxrnn.runs.prepare import Prepared
    from jaxrnn.runs.task_tag import encode

    train = make_tagging(n_train, seed)
    test = make_tagging(n_test, seed, split="test")
    vocab = TagVocab.fit(train, extra_tags=[t for s in test for t in s.tags])
    prepared = Prepared(encode(vocab, train, None), encode(vocab, test, None), vocab,
                        list(vocab.tags), 0)  # fmt: skip
    return prepared, test


def _group(s) -> str:
    kind = "ambiguous" if s.ambiguous else "unambiguous"
    return f"{kind}, cue {'after' if s.cue_after else 'before'}"


def _name_accuracy(pred_tags: list[list[str]], test) -> dict[str, float]:
    """Per group: the fraction of sentences whose main name got exactly its gold tags."""
    hits: dict[str, list[bool]] = {g: [] for g in GROUPS}
    for p, s in zip(pred_tags, test, strict=True):
        a, b = s.name_start, s.name_end
        hits[_group(s)].append(p[a:b] == s.tags[a:b])
    return {g: float(np.mean(v)) if v else float("nan") for g, v in hits.items()}


def _predict_all(result, model, data) -> np.ndarray:
    """Test predictions ``[S, N, T]`` of every seed's trained params."""
    import jax

    params = result.params
    if len(result.seeds) == 1:
        params = jax.tree.map(lambda a: a[None], params)
    t = data.test

    @jax.jit
    def pred(params):
        return jax.vmap(lambda p: model.apply(p, t.ids, t.lengths).argmax(-1))(params)

    return np.asarray(pred(params))


def run(seeds: int, quick: bool, on_line: Callable[[str], None] = print) -> dict[str, Any]:
    """Train both models over ``seeds`` seeds; the JSON section ``bidirectional``."""
    from jaxrnn.evaluation.spans import span_report
    from jaxrnn.runs.config import TrainConfig, resolve_config
    from jaxrnn.runs.results import summarize
    from jaxrnn.runs.run import fit
    from jaxrnn.runs.task_tag import build_model

    settings = dict(QUICK if quick else FULL)
    data, test = _data(settings["n_train"], settings["n_test"])
    gold = data.tokenizer.decode_tags(data.test.tags, data.test.lengths)
    section: dict[str, Any] = {"task": "jaxrnn.data.generators.entities.make_tagging(n, seed=0), "
                               "cue "
                               "after the name in half of the sentences, half of the names "
                               "ambiguous; test: split='test'", "seeds": seeds,
                               "settings": settings, "models": {}}  # fmt: skip
    per_model_f1 = {}
    for name, label in MODELS.items():
        cfg = resolve_config(TrainConfig(task="tag", model=name, epochs=settings["epochs"],
                                         batch_size=settings["batch_size"],
                                         data="<generated>"))  # fmt: skip
        t0 = time.perf_counter()
        result = fit(cfg, data, seeds=seeds)
        wall = time.perf_counter() - t0
        preds = _predict_all(result, build_model(cfg, data.tokenizer, []), data)
        per_seed = []
        for i, p in enumerate(preds):
            tags = data.tokenizer.decode_tags(p, data.test.lengths)
            rep = span_report(gold, tags)
            per_seed.append({"seed": result.seeds[i], "span_f1": rep.f1,
                             "token_acc": rep.accuracy,
                             "name_acc": _name_accuracy(tags, test)})  # fmt: skip
        f1s = [r["span_f1"] for r in per_seed]
        per_model_f1[name] = f1s
        section["models"][name] = {
            "label": label, "num_params": result.num_params,
            "config": {k: getattr(cfg, k) for k in ("embed_dim", "hidden", "layers", "optimizer",
                                                    "lr", "batch_size", "epochs")},
            "span_f1": summarize(f1s),
            "token_acc": summarize([r["token_acc"] for r in per_seed]),
            "name_acc": {g: summarize([r["name_acc"][g] for r in per_seed]) for g in GROUPS},
            "seeds_at_least_0.99": sum(f >= 0.99 for f in f1s),
            "wall_s": wall, "per_seed": per_seed,
        }  # fmt: skip
        s = section["models"][name]["span_f1"]
        on_line(f"bidirectional: {label} span F1 {s['mean']:.3f} ± {s['std']:.3f} over "
                f"{seeds} seeds ({wall:.1f} s)")  # fmt: skip
    diff = np.subtract(per_model_f1["bilstm"], per_model_f1["lstm"])
    section["difference_span_f1"] = {**summarize(diff), "pairs": "the same seed's two runs",
                                     "bilstm_better": int(np.sum(diff > 0)),
                                     "lstm_better": int(np.sum(diff < 0))}  # fmt: skip
    return section


def _fmt(s: dict, digits: int = 3) -> str:
    if s["n"] == 0 or not np.isfinite(s["mean"]):
        return "–"
    lo, hi = s["ci95"]
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f} [{lo:.{digits}f}, {hi:.{digits}f}]"


def markdown(section: dict[str, Any]) -> str:
    """``bidirectional.md``: the section as tables."""
    ms = section["models"]
    st = section["settings"]
    cfg = next(iter(ms.values()))["config"]
    lines = [
        "# Bidirectionality measured: BiLSTM vs forward LSTM on per-token tagging",
        "",
        f"Task: {section['task']}; {st['n_train']} training and {st['n_test']} test sentences. "
        f"Both models: embedding {cfg['embed_dim']}, hidden {cfg['hidden']} per direction, "
        f"{cfg['optimizer']} {cfg['lr']:g}, batch {cfg['batch_size']}, {cfg['epochs']} epochs; "
        f"{section['seeds']} seeds each. Mean ± std over seeds [95% t-interval of the mean].",
        "",
        "| model | params | span F1 | token accuracy | seeds with F1 >= 0.99 | wall s |",
        "|--|--:|--|--|--:|--:|",
    ]
    for m in ms.values():
        lines.append(f"| {m['label']} | {m['num_params']:,} | {_fmt(m['span_f1'])} "
                     f"| {_fmt(m['token_acc'], 4)} | {m['seeds_at_least_0.99']}/{section['seeds']} "
                     f"| {m['wall_s']:.1f} |")  # fmt: skip
    d = section["difference_span_f1"]
    lines += [
        "",
        f"Paired difference in span F1 (BiLSTM - LSTM, same seed): {_fmt(d)}; the BiLSTM is "
        f"better on {d['bilstm_better']} of {d['n']} seeds, worse on {d['lstm_better']}.",
        "",
        "The main name tagged exactly right (its B-/I- tags), per group of test sentences:",
        "",
        "| model | " + " | ".join(GROUPS) + " |",
        "|--|" + "--|" * len(GROUPS),
    ]
    for m in ms.values():
        lines.append(f"| {m['label']} | " + " | ".join(_fmt(m["name_acc"][g]) for g in GROUPS)
                     + " |")  # fmt: skip
    lines += [
        "",
        "An ambiguous name (Jordan, Chelsea, ...) is PER, LOC or ORG equally often; only the cue "
        "phrase says which. When the cue comes after the name, a forward LSTM has read nothing "
        "that decides the type at the name's position: chance is 1/3.",
        "",
    ]
    return "\n".join(lines)
