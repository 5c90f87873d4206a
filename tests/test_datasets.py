"""Public data sets (jaxrnn.datasets) and the CoNLL-U reader (jaxrnn.data.conllu).

The loaders run with the network blocked (any socket connection or name lookup fails),
so a loader that downloads fails here."""

import random
import socket
import subprocess
import sys
from collections import Counter
from importlib import metadata

import numpy as np
import pytest

from jaxrnn.data.conll import Sentence
from jaxrnn.data.conllu import load_conllu, split_every_tenth
from jaxrnn.datasets import (
    mnist1d,
    python_manual_text,
    sunspots,
    turkish_web_treebank,
    turkish_web_treebank_path,
)
from jaxrnn.errors import DataError, UsageError

INSTALL = 'pip install "jaxrnn[datasets]"'


def _no_network(*args, **kwargs):
    raise AssertionError(f"network access attempted: {args!r:.200}")


@pytest.fixture(scope="module")
def offline():
    """Every socket connection and name lookup fails while the loaders run."""
    with pytest.MonkeyPatch.context() as mp:
        for name in ("connect", "connect_ex"):
            mp.setattr(socket.socket, name, _no_network)
        mp.setattr(socket, "create_connection", _no_network)
        mp.setattr(socket, "getaddrinfo", _no_network)
        yield


def test_network_guard_bites(offline):
    with pytest.raises(AssertionError, match="network access"):
        socket.create_connection(("example.org", 80), timeout=1)


@pytest.fixture(scope="module")
def mnist(offline):
    return mnist1d()


@pytest.fixture(scope="module")
def treebank(offline):
    return turkish_web_treebank()


# ----------------------------------------------------------------------------- MNIST-1D


def test_mnist1d_shapes_classes_counts(mnist):
    train, test = mnist
    assert train.x.shape == (4000, 40, 1) and test.x.shape == (1000, 40, 1)
    assert train.x.dtype == np.float32 and np.isfinite(train.x).all()
    assert (train.lengths == 40).all() and (test.lengths == 40).all()
    assert train.label_names == test.label_names == [str(d) for d in range(10)]
    assert sorted(set(train.labels.tolist())) == list(range(10))
    assert sorted(set(test.labels.tolist())) == list(range(10))
    assert 350 < np.bincount(train.labels).min()  # roughly balanced: 400 a class


def test_mnist1d_equals_the_package_generator(mnist, offline):
    from mnist1d.data import get_dataset_args, make_dataset

    ref = make_dataset(get_dataset_args())
    np.testing.assert_array_equal(mnist.train.x[:, :, 0], ref["x"].astype(np.float32))
    np.testing.assert_array_equal(mnist.train.labels, ref["y"])
    np.testing.assert_array_equal(mnist.test.x[:, :, 0], ref["x_test"].astype(np.float32))
    np.testing.assert_array_equal(mnist.test.labels, ref["y_test"])


def test_mnist1d_uses_default_args_and_restores_global_rng(monkeypatch):
    from mnist1d import data as package

    seen = []

    def fake(args):  # reseeds the global generators as the real one does, but small
        seen.append(dict(vars(args)))
        np.random.seed(args.seed)
        random.seed(args.seed)
        y = np.arange(10)
        return {"x": np.ones((10, 40)), "x_test": np.ones((10, 40)), "y": y, "y_test": y}

    monkeypatch.setattr(package, "make_dataset", fake)
    np.random.seed(123)
    random.seed(123)
    expect = (np.random.random(), random.random())
    np.random.seed(123)
    random.seed(123)
    small = mnist1d()
    assert (np.random.random(), random.random()) == expect
    assert seen == [dict(vars(package.get_dataset_args()))]
    assert small.train.x.shape == (10, 40, 1)


# ----------------------------------------------------------------------------- treebank


def test_treebank_counts_and_split(treebank):
    parts = (treebank.train, treebank.validation, treebank.test)
    assert [len(p) for p in parts] == [2033, 254, 254]
    text = treebank.path.read_text(encoding="utf-8")
    assert sum(len(p) for p in parts) == text.count("# sent_id = ") == 2541
    assert sum(len(s.tokens) for p in parts for s in p) == 32422  # the README's token count
    assert all(isinstance(s, Sentence) and len(s.tokens) == len(s.tags) for p in parts for s in p)
    assert treebank.train[0] == Sentence(
        ["Burda", "da", "öylemi", "yoksa", "kiloyla", "mı", "?"],
        ["PRON", "PRT", "VERB", "CONJ", "VERB", "PRT", "PUNCT"],
    )


def test_treebank_tag_sets(treebank, offline):
    upos = {t for p in treebank[:3] for s in p for t in s.tags}
    assert upos == {"ADJ", "ADP", "ADV", "AFFIX", "CONJ", "DET", "NOUN", "NUM", "ONOM",
                    "PRON", "PRT", "PUNCT", "VERB", "X"}  # fmt: skip
    xpos = turkish_web_treebank("xpos")
    assert [len(p) for p in xpos[:3]] == [2033, 254, 254]
    tags = Counter(t for p in xpos[:3] for s in p for t in s.tags)
    assert len(tags) == 44 and tags["NN"] > tags["VB"] > 0
    assert xpos.train[0].tokens == treebank.train[0].tokens


def test_split_every_tenth():
    train, val, test = split_every_tenth(list(range(25)))
    assert val == [8, 18] and test == [9, 19]
    assert train == [i for i in range(25) if i % 10 < 8]


# ----------------------------------------------------------------------------- CoNLL-U reader


_WORD = "{i}\t{form}\t{form}\t{upos}\t{xpos}\t_\t0\troot\t_\t_"


def _conllu(tmp_path, text, name="t.conllu"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_conllu_reader_skips_multiword_tokens_and_empty_nodes(tmp_path):
    text = "\n".join([
        "# sent_id = 1", "# text = del gato",
        "1-2\tdel\t_\t_\t_\t_\t_\t_\t_\t_",
        _WORD.format(i=1, form="de", upos="ADP", xpos="SP"),
        _WORD.format(i=2, form="el", upos="DET", xpos="DA"),
        "2.1\tnull\t_\t_\t_\t_\t_\t_\t_\t_",
        _WORD.format(i=3, form="gato", upos="NOUN", xpos="NC"),
        "", "", "# only a comment", "",
        _WORD.format(i=1, form="Sí", upos="INTJ", xpos="I"), "",
    ])  # fmt: skip
    p = _conllu(tmp_path, text)
    assert load_conllu(p) == [Sentence(["de", "el", "gato"], ["ADP", "DET", "NOUN"]),
                              Sentence(["Sí"], ["INTJ"])]  # fmt: skip
    assert load_conllu(p, "xpos")[0].tags == ["SP", "DA", "NC"]


@pytest.mark.parametrize(
    ("text", "tag", "needles"),
    [
        ("# c\n" + _WORD.format(i=1, form="a", upos="X", xpos="Y") + "\n1\tb\tb\tX\n",
         "upos", ["line 3", "4 tab-separated field(s)", "needs 10"]),
        (_WORD.format(i=1, form="a", upos="_", xpos="Y") + "\n", "upos",
         ["line 1", "'a'", "no upos tag", "xpos"]),
        ("\n" + _WORD.format(i=1, form="a", upos="X", xpos="_") + "\n", "xpos",
         ["line 2", "no xpos tag"]),
        (_WORD.format(i="x", form="a", upos="X", xpos="Y") + "\n", "upos",
         ["sentence at line 1", "id"]),
        ("# only comments\n", "upos", ["no sentences"]),
        ("", "upos", ["empty"]),
    ],
)
def test_conllu_bad_files_give_one_line_errors(tmp_path, text, tag, needles):
    p = _conllu(tmp_path, text)
    with pytest.raises(DataError) as e:
        load_conllu(p, tag)
    msg = str(e.value)
    assert "\n" not in msg and str(p) in msg
    for needle in needles:
        assert needle in msg, (needle, msg)


def test_conllu_unknown_tag_column(tmp_path):
    with pytest.raises(DataError, match="upos, xpos"):
        load_conllu(_conllu(tmp_path, "x"), "deprel")


# ----------------------------------------------------------------------------- text, series


def test_python_manual_text(offline):
    from pydoc_data.topics import topics

    text = python_manual_text()
    assert len(text) > 400_000
    assert text == "\n\n".join(topics[k] for k in sorted(topics))
    assert text.startswith(topics[min(topics)]) and "lambda" in text


def test_sunspots_against_statsmodels(offline):
    from statsmodels.datasets import sunspots as sm_sunspots

    s = sunspots()
    frame = sm_sunspots.load_pandas().data
    assert s.values.shape == (309, 1) and s.values.dtype == np.float64
    assert s.columns == ["SUNACTIVITY"] and s.target_index == 0
    np.testing.assert_array_equal(s.values[:5, 0], [5.0, 11.0, 16.0, 23.0, 36.0])
    np.testing.assert_array_equal(s.values[:, 0], frame["SUNACTIVITY"].to_numpy())
    assert frame["YEAR"].iloc[0] == 1700 and frame["YEAR"].iloc[-1] == 2008


# ----------------------------------------------------------------------------- missing packages


@pytest.mark.parametrize(
    ("blocked", "call"),
    [
        ("mnist1d.data", mnist1d),
        ("statsmodels.datasets.sunspots", sunspots),
        ("conllu", lambda: load_conllu(turkish_web_treebank_path())),
    ],
)
def test_missing_package_names_the_install_command(monkeypatch, blocked, call):
    monkeypatch.setitem(sys.modules, blocked, None)  # import raises ImportError
    with pytest.raises(UsageError) as e:
        call()
    assert INSTALL in str(e.value) and "\n" not in str(e.value)


def test_missing_treebank_package_names_the_install_command(monkeypatch):
    def gone(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "distribution", gone)
    with pytest.raises(UsageError) as e:
        turkish_web_treebank()
    assert INSTALL in str(e.value) and "turkish-treebanks" in str(e.value)


def test_data_layer_imports_no_jax():
    code = (
        "import sys, jaxrnn.datasets, jaxrnn.data.numeric, jaxrnn.data.conllu\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('jax', 'jaxlib', 'optax'))\n"
        "assert not bad, bad\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]


# ----------------------------------------------------------------------------- files for the CLI


def test_written_files_read_back_unchanged(tmp_path, monkeypatch, mnist, treebank, offline):
    from jaxrnn.data.conll import load_conll
    from jaxrnn.data.numeric import load_numeric
    from jaxrnn.data.series import load_series_csv
    from jaxrnn.data.text import load_text
    from jaxrnn.datasets import export

    monkeypatch.setattr(export, "mnist1d", lambda: mnist)  # generated once, in the fixture
    monkeypatch.setattr(export, "turkish_web_treebank", lambda tag: treebank)
    paths = {p.name: p for n in export.NAMES for p in export.write_dataset(n, tmp_path)}
    assert sorted(paths) == sorted(["mnist1d_train.npz", "mnist1d_test.npz",
                                    "twt_web_train.conll", "twt_web_validation.conll",
                                    "twt_web_test.conll", "python_manual.txt", "sunspots.csv"])
    for part, want in zip(("train", "test"), mnist, strict=True):
        got = load_numeric(paths[f"mnist1d_{part}.npz"])
        np.testing.assert_array_equal(got.x, want.x)
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.label_names == want.label_names
    for part in ("train", "validation", "test"):
        assert load_conll(paths[f"twt_web_{part}.conll"]) == getattr(treebank, part)
    assert load_text(paths["python_manual.txt"]) == python_manual_text()
    series = load_series_csv(paths["sunspots.csv"], "SUNACTIVITY")
    np.testing.assert_array_equal(series.values, sunspots().values)


def test_export_command_line(tmp_path, capsys, offline):
    from jaxrnn.datasets.export import main

    assert main(["sunspots", "--out", str(tmp_path)]) == 0
    assert "sunspots.csv" in capsys.readouterr().out
    with pytest.raises(SystemExit) as e:
        main(["nope", "--out", str(tmp_path)])
    assert e.value.code == 2
