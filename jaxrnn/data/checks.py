"""Sanity checks of a labelled data set's classes, and a compact summary of its counts.

``label_warnings`` catches two mistakes that train silently:

* the same class spelled two ways -- labels that differ only by surrounding
  whitespace, only by case (``Joy`` / ``joy``), or, when both are at least 4
  characters long, by one character edit (Levenshtein distance 1: ``sadnes`` /
  ``sadness``; compared after stripping and case folding, so ``Sadnes`` /
  ``sadness`` is caught too). Shorter labels are exempt from the edit rule so
  that ``a``/``b`` or ``pos``/``neg``-like codes are not flagged;
* a class too small to be both learnt and measured: fewer than 2 training
  examples, or (when a test split is given) no test example.

``jaxrnn.data.files.stratified_split`` keeps every class with at least 2 rows in
both splits; a class with a single row stays in training only, which
``label_warnings`` reports (0 test examples, 1 training example).

``data_summary`` renders rows and per-class train/test counts as a small table.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from jaxrnn.data.sentiment import TextDataset

__all__ = ["class_counts", "data_summary", "dataset_counts", "label_warnings"]

#: Labels shorter than this are not compared by edit distance.
MIN_EDIT_LENGTH = 4


def class_counts(labels: Iterable[int], n_classes: int) -> list[int]:
    """How many of ``labels`` (class indices ``0..n_classes-1``) fall in each class."""
    counts = [0] * n_classes
    for y in labels:
        if not 0 <= int(y) < n_classes:
            raise ValueError(f"label {y!r} is not a class index 0..{n_classes - 1}")
        counts[int(y)] += 1
    return counts


def dataset_counts(data: TextDataset) -> tuple[list[int], list[int]]:
    """(train counts, test counts) per class of a ``TextDataset``."""
    n = len(data.label_names)
    return class_counts(data.train.labels, n), class_counts(data.test.labels, n)


def _one_edit(a: str, b: str) -> bool:
    """True if ``a`` and ``b`` are exactly one insertion, deletion or substitution apart."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1 :] == b[i + 1 :]
    return a[i:] == b[i + 1 :]


def _show(name: str, limit: int = 40) -> str:
    """A label for a message or a table: repr (shows whitespace and escapes), shortened."""
    s = repr(name)
    return s if len(s) <= limit else s[: limit - 4] + "...'"


def _cell(name: str, limit: int = 40) -> str:
    """A label for the table: as it is when plainly printable, else as ``_show`` writes it."""
    plain = name and name.isprintable() and name == name.strip() and len(name) <= limit
    return name if plain else _show(name, limit)


def _similarity(a: str, b: str) -> str | None:
    """Why ``a`` and ``b`` look like one class spelled two ways, or None."""
    sa, sb = a.strip(), b.strip()
    if sa == sb:
        return "differ only by surrounding whitespace"
    fa, fb = sa.casefold(), sb.casefold()
    if fa == fb:
        return "differ only by case" + (" and surrounding whitespace" if sa != a or sb != b else "")
    if min(len(sa), len(sb)) >= MIN_EDIT_LENGTH and _one_edit(fa, fb):
        return "differ by one character"
    return None


def _check_counts(
    label_names: Sequence[str], counts: Sequence[int] | None, what: str
) -> list[int] | None:
    if counts is None:
        return None
    out = [int(c) for c in counts]
    if len(out) != len(label_names):
        raise ValueError(
            f"{what} has {len(out)} counts but there are {len(label_names)} label names"
        )
    if any(c < 0 for c in out):
        raise ValueError(f"{what} has a negative count: {out}")
    return out


def label_warnings(
    label_names: Sequence[str],
    counts_train: Sequence[int],
    counts_test: Sequence[int] | None = None,
) -> list[str]:
    """One warning line per suspicious pair of labels and per class too small for both splits.

    ``counts_train[i]`` / ``counts_test[i]`` are class ``i``'s examples per split
    (``counts_test=None``: no test split, so only the training count is checked).
    Pairs come first (in label order), then small classes. An empty list means
    nothing looks wrong.
    """
    names = [str(n) for n in label_names]
    train = _check_counts(names, counts_train, "counts_train")
    test = _check_counts(names, counts_test, "counts_test")
    assert train is not None

    def counts(i: int) -> str:
        return f"{train[i]} train" + ("" if test is None else f", {test[i]} test")

    out: list[str] = []
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            why = _similarity(a, names[j])
            if why:
                out.append(
                    f"labels {_show(a)} ({counts(i)}) and {_show(names[j])} ({counts(j)}) {why}: "
                    "the same class spelled two ways? If so, fix the labels in the data"
                )
    for i, a in enumerate(names):
        problems = []
        if train[i] < 2:
            problems.append(f"only {train[i]} training example{'' if train[i] == 1 else 's'}")
        if test is not None and test[i] == 0:
            problems.append("no test examples")
        if problems:
            out.append(
                f"class {_show(a)} has {' and '.join(problems)} ({counts(i)}): too small to be "
                "learnt and measured; add examples (at least 2 for training and 1 for testing)"
            )
    return out


def data_summary(
    label_names: Sequence[str],
    counts_train: Sequence[int],
    counts_test: Sequence[int] | None = None,
    *,
    max_classes: int | None = 30,
    with_warnings: bool = False,
) -> str:
    """Rows and per-class train/test counts as a compact text table.

    With more than ``max_classes`` classes only the largest ones (by training
    count) are listed, and a line says how many are left out. ``with_warnings``
    appends ``label_warnings`` as ``warning: ...`` lines.

    >>> print(data_summary(["negative", "positive"], [32, 26], [10, 10]))
    rows: 78 (58 train, 20 test), 2 classes
    class     train   test
    negative     32     10
    positive     26     10
    """
    names = [str(n) for n in label_names]
    train = _check_counts(names, counts_train, "counts_train")
    test = _check_counts(names, counts_test, "counts_test")
    assert train is not None
    n_tr = sum(train)
    if test is None:
        head = f"rows: {n_tr} (train only), {len(names)} classes"
    else:
        head = f"rows: {n_tr + sum(test)} ({n_tr} train, {sum(test)} test), {len(names)} classes"
    order = list(range(len(names)))
    hidden = 0
    if max_classes is not None and len(order) > max_classes:
        keep = sorted(order, key=lambda i: (-train[i], i))[:max_classes]
        hidden = len(order) - len(keep)
        order = sorted(keep)
    shown = [_cell(names[i]) for i in order]
    width = max([len("class"), *map(len, shown)])
    cols = ["train"] + ([] if test is None else ["test"])
    lines = [head, f"{'class':<{width}}  " + "  ".join(f"{c:>5}" for c in cols)]
    for i, s in zip(order, shown, strict=True):
        cells = [train[i]] + ([] if test is None else [test[i]])
        lines.append(f"{s:<{width}}  " + "  ".join(f"{c:>5}" for c in cells))
    if hidden:
        lines.append(f"... and {hidden} smaller classes")
    if with_warnings:
        lines += [f"warning: {w}" for w in label_warnings(names, train, test)]
    return "\n".join(lines)
