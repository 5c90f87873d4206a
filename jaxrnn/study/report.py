"""``results.md``: the results dictionary as Markdown tables, figures linked."""

from __future__ import annotations

from typing import Any

from jaxrnn.study.figures import figure_names


def _pm(s: dict | None, digits: int = 3) -> str:
    if not s:
        return "–"
    return f"{s['mean']:.{digits}f} ± {s['std']:.{digits}f}"


def _ci(s: dict, digits: int = 3) -> str:
    lo, hi = s["ci95"]
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def _num(x: float | None, fmt: str = ".0f") -> str:
    return "–" if x is None else format(x, fmt)


def _models_section(res: dict[str, Any]) -> list[str]:
    models = res["models"]
    n = max(len(m["seeds"]) for m in models.values())
    lines = [
        "## Part 1: every model over seeds, bundled data",
        "",
        f"Mean ± standard deviation over seeds (n = {n} unless noted; the std is the spread "
        "of single runs), and the 95% t-interval of the mean. The test split has "
        f"{res.get('data', {}).get('n_test', '?')} sentences, so one sentence is "
        f"{1 / max(res.get('data', {}).get('n_test', 20), 1):.2f} of accuracy.",
        "",
        "| model | params | optimizer | lr | batch | epochs | train acc | test acc "
        "| test acc 95% CI | train loss | test loss |",
        "|--|--:|--|--:|--:|--:|--|--|--|--|--|",
    ]
    for m in models.values():
        o, f = m["optimizer"], m["final"]
        seeds = "" if len(m["seeds"]) == n else f" (n = {len(m['seeds'])})"
        lines.append(
            f"| {m['label']}{seeds} | {m['num_params']:,} | {o['name']}"
            f"{' + clip ' + format(o['clip'], 'g') if o['clip'] else ''} | {o['lr']:g} "
            f"| {o['batch_size']} | {o['epochs']} | {_pm(f['train_acc'])} | {_pm(f['test_acc'])} "
            f"| {_ci(f['test_acc'])} | {_pm(f['train_loss'])} | {_pm(f['test_loss'])} |"
        )
    lines += [
        "",
        "Convergence and time. *Reach 100%*: seeds whose training accuracy is 100% at some "
        "epoch, and the first such epoch (mean / median over those seeds); *at end*: seeds at "
        "100% after the last epoch. Times are wall-clock seconds on a shared machine: "
        "indicative only (see the load below).",
        "",
        "| model | reach 100% train | first epoch mean / median | 100% at end | wall s "
        "| compile s | s per seed | how the seeds ran |",
        "|--|--:|--:|--:|--:|--:|--:|--|",
    ]
    for m in models.values():
        r, t = m["reach_100_train_acc"], m["timing"]
        per = t["per_seed_s"]
        per_s = f"{per['mean']:.2f}" + (f" ± {per['std']:.2f}" if "std" in per else "")
        lines.append(
            f"| {m['label']} | {r['count']}/{r['n']} ({r['fraction']:.0%}) "
            f"| {_num(r['first_epoch_mean'], '.1f')} / {_num(r['first_epoch_median'])} "
            f"| {m['final_100_train_acc_fraction']:.0%} | {t['wall_s']:.1f} "
            f"| {t['compile_s']:.1f} | {per_s} | {t['how']} |"
        )
    held = {k: m["held_out"] for k, m in models.items() if m.get("held_out")}
    if held:
        tags = sorted({t for h in held.values() for t in h["constructions"]})
        n_held = next(iter(held.values()))["n"]
        lines += [
            "",
            f"Generalisation: accuracy on the {n_held} held-out compositional sentences "
            "(`jaxrnn/data/compositional.jsonl`: new sentences composed from the training "
            "words by the constructions of the training data, none of them in the bundled "
            "data), mean ± std over seeds and the 95% interval of the mean, then the mean per "
            "construction tag (count in the header):",
            "",
            "| model | test acc | held-out acc | held-out 95% CI | "
            + " | ".join(f"{t} ({next(iter(held.values()))['constructions'][t]['count']})"
                         for t in tags) + " |",
            "|--|--|--|--|" + "--:|" * len(tags),
        ]
        for k, h in held.items():
            m = models[k]
            lines.append(
                f"| {m['label']} | {_pm(m['final']['test_acc'])} | {_pm(h['acc'])} "
                f"| {_ci(h['acc'])} | "
                + " | ".join(f"{h['constructions'][t]['mean']:.2f}" if t in h["constructions"]
                             else "–" for t in tags) + " |"
            )
    numpy = [m for m in models.values() if m["backend"] == "numpy"]
    if numpy:
        t = numpy[0]["timing"]
        lines += [
            "",
            f"The NumPy runs' *wall s* is the sum of their seed-runs' times (what one process "
            f"would take); they ran in {t.get('workers', 1)} worker process(es) and the whole "
            f"NumPy phase ({', '.join(t.get('numpy_phase_models', []))}) took "
            f"{t.get('numpy_phase_elapsed_s', float('nan')):.1f} s of wall-clock time. JAX "
            "models train all seeds at once (vmapped): their wall time is for all seeds.",
        ]
    return lines


def _fmt_ratio(log10: float | None) -> str:
    return "–" if log10 is None else f"{10**log10:.1e}"


def _grad_section(g: dict[str, Any]) -> list[str]:
    lines = [
        "## Part 2: vanishing gradients, measured",
        "",
        g["method"],
        "",
        "Relative gradient norm |dL/dh_(T−k)| / |dL/dh_T| (and the same for d/dx) k steps "
        "before the readout, geometric mean over examples and seeds (*0 (underflow)*: "
        "below float32's range, exactly 0 in the computation):",
        "",
    ]
    for key in ("sentiment", "long_range"):
        sec = g.get(key)
        if not sec:
            continue
        rows = []
        for cell, entry in sec["cells"].items():
            rows.append((f"{cell.upper()} ({entry['model']})", entry))
        for entry in sec.get("extra", {}).values():
            rows.append((f"{entry['label']} ({entry['model']})", entry))
        kmax = max(len(e["init"]["k"]) for _, e in rows)
        ks = sorted({k for k in (1, 3, kmax // 4, kmax // 2, kmax - 1) if 0 < k < kmax})
        lines += [f"**{sec['title']}**", ""]
        lines.append("| model | state | " + " | ".join(f"k = {k}" for k in ks) + " |")
        lines.append("|--|--|" + "--:|" * len(ks))
        for label, entry in rows:
            states = ("init", "trained", "init_x", "trained_x")
            for state in states:
                p = entry[state]
                vals = [
                    _fmt_ratio(p["log10_rel_mean"][k])
                    if k < len(p["k"]) and p["log10_rel_mean"][k] is not None
                    else ("0 (underflow)" if k < len(p["k"]) and p["underflow"][k] else "–")
                    for k in ks
                ]
                name = state.replace("_x", ", d/dx_t") if "_x" in state else state + ", d/dh_t"
                lines.append(f"| {label} | {name} | " + " | ".join(vals) + " |")
        lines.append("")
    return lines


def _long_range_section(lr: dict[str, Any]) -> list[str]:
    s = lr["settings"]
    lengths = s["lengths"]
    lines = [
        "### Test accuracy against sequence length (long-range task)",
        "",
        f"Task: {lr['task']}. {s['n_train']} training and {s['n_test']} test sequences per "
        f"length; embedding {s['embed_dim']}, one layer of hidden {s['hidden']}, Adam "
        f"{s['lr']:g}, batch {s['batch_size']}, {s['epochs']} epochs, {s['seeds']} seeds. "
        "Mean ± std of the final test accuracy (per-seed values in results.json).",
        "",
        "| cell | " + " | ".join(f"L = {L}" for L in lengths) + " |",
        "|--|" + "--|" * len(lengths),
    ]
    for cell, rows in lr["accuracy"].items():
        vals = [_pm(rows.get(str(L), {}).get("test_acc"), 2) for L in lengths]
        lines.append(f"| {cell.upper()} | " + " | ".join(vals) + " |")
    return lines + [""]


def _git_note(git: dict | None) -> str:
    if not git:
        return ""
    dirty = git.get("uncommitted_library_files") or []
    extra = f" with uncommitted changes to {', '.join(dirty)}" if dirty else ""
    return f"; commit {git['commit'][:10]}{extra}"


def render(res: dict[str, Any]) -> str:
    """The whole ``results.md``."""
    env = res.get("environment", {})
    st = res.get("settings", {})
    lines = [
        "# The study, done properly: results",
        "",
        f"Generated by `{res.get('command', 'python -m jaxrnn.study')}` on "
        f"{res.get('created', '?')} in {res.get('elapsed_s', float('nan')):.0f} s "
        f"({env.get('cpu_count', '?')} CPUs, load average {env.get('loadavg_start', '?')} at "
        f"the start and {env.get('loadavg_end', '?')} at the end; jax {env.get('jax', '?')}, "
        f"numpy {env.get('numpy', '?')}{_git_note(env.get('git'))}). Every number here is "
        "computed by that run; "
        "`results.json` has the same numbers with per-seed values and per-epoch curves.",
        "",
    ]
    if st.get("quick"):
        lines += ["**Quick mode**: few seeds and epochs, a smoke run, not a result.", ""]
    if st.get("carried_over"):
        lines += [
            f"Sections {', '.join(st['carried_over'])} come from an earlier run "
            f"({st.get('carried_over_created', '?')}).",
            "",
        ]
    if res.get("models"):
        lines += _models_section(res) + [""]
    if res.get("gradients"):
        lines += _grad_section(res["gradients"])
    if res.get("long_range"):
        lines += _long_range_section(res["long_range"])
    parts = [p for p, k in (("compare", "models"), ("gradients", "gradients")) if res.get(k)]
    figs = figure_names(parts)
    if figs:
        lines += ["## Figures", ""]
        lines += [f"![{f[:-4]}]({f})" for f in figs] + [""]
    return "\n".join(lines)
