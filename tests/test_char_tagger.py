"""``--task tag --char-embed D``: the tagger with a character BiLSTM over each word (Lample
et al. 2016). Its gradient against the NumPy twin's hand-written BPTT and against finite
differences (float64); character ids by hand; a train -> save -> predict round trip whose
predictions score exactly what the run reported; a checkpoint from before the option still
serves; the bad flags' one-line refusals."""

import json

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from jaxrnn.cli.predict import main as predict_main
from jaxrnn.cli.train import main as train_main
from jaxrnn.data.conll import MAX_WORD_CHARS, Sentence, TagVocab, load_conll, write_conll
from jaxrnn.data.generators.entities import make_tagging
from jaxrnn.errors import ConfigError
from jaxrnn.nn import models, sequence
from jaxrnn.nn.chars import CharEncoder
from jaxrnn.runs.config import TrainConfig, resolve_config
from jaxrnn.runs.predictor import load_predictor
from jaxrnn.scratch.seq import tag_loss_and_grads
from jaxrnn.training import checkpoint_file

B, T, W, V, K, E, H = 3, 5, 4, 12, 4, 4, 3  # batch, steps, characters, words, tags, embed, hidden
C, DC, HC = 7, 3, 2  # characters (0 pad, 1 unknown), char embedding, char BiLSTM per direction


# ----------------------------------------------------------------------------- the model


@pytest.fixture(scope="module")
def case():
    enc = CharEncoder(sequence.lstm(HC, bidirectional=True), C, DC)
    model = models.SequenceTagger(sequence.lstm(H, bidirectional=True), V, K, E, char_encoder=enc)
    rng = np.random.default_rng(0)
    drawn = models.init_params_numpy(model, 0, np.float64)
    params = jax.tree.map(lambda a: np.asarray(rng.normal(0, 0.5, a.shape)), drawn)
    lengths = np.array([5, 2, 3])
    valid = np.arange(T)[None, :] < lengths[:, None]
    ids = np.where(valid, rng.integers(1, V, (B, T)), 0)
    word_len = np.where(valid, rng.integers(1, W + 1, (B, T)), 0)  # padding: no characters
    chars = np.where(np.arange(W) < word_len[..., None], rng.integers(1, C, (B, T, W)), 0)
    tags = np.where(valid, rng.integers(0, K, (B, T)), -1)

    def loss(p):
        logits = model.apply(p, ids, lengths, chars=chars)
        xent = optax.softmax_cross_entropy_with_integer_labels(logits, np.maximum(tags, 0))
        return jnp.sum(valid * xent) / valid.sum()

    return model, drawn, params, ids, lengths, chars, tags, jax.jit(jax.value_and_grad(loss))


def test_init_matches_jax_init_structure(case):
    model, drawn, *_ = case
    ref = model.init(jax.random.key(0), jnp.float64)
    assert jax.tree.structure(ref) == jax.tree.structure(drawn)
    assert [a.shape for a in jax.tree.leaves(ref)] == [a.shape for a in jax.tree.leaves(drawn)]
    # layer 0 reads the embedding and both directions' character states
    assert drawn["rnn"][0][0].w_ih.shape == (4 * H, E + 2 * HC)


def test_gradient_matches_numpy_twin(case):
    _, _, params, ids, lengths, chars, tags, value_and_grad = case
    loss, g_jax = value_and_grad(params)
    loss_np, g_np = tag_loss_and_grads(params, ids, lengths, tags, "lstm", chars=chars)
    assert loss_np == pytest.approx(float(loss), rel=1e-12)
    assert set(g_np) == set(g_jax) == {"embed", "rnn", "w_out", "b_out", "chars"}
    for a, b in zip(jax.tree.leaves(g_np), jax.tree.leaves(g_jax), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-12)
    assert np.abs(g_np["chars"]["embed"][0]).max() == 0  # padding characters reach no state
    assert np.abs(g_np["chars"]["embed"][1:]).max() > 0


def test_gradient_matches_finite_differences(case):
    """The character parameters, and layer 0's columns that read them, by centred
    differences of the JAX loss."""
    _, _, params, _, _, _, _, value_and_grad = case
    _, grads = value_and_grad(params)
    rng = np.random.default_rng(1)
    eps = 1e-6
    picks = [(("chars", "embed"), None), (("chars", "rnn", 0, 1, "w_ih"), None),
             (("chars", "rnn", 0, 0, "w_hh"), None), (("rnn", 0, 0, "w_ih"), E)]  # fmt: skip

    def get(tree, path):
        for p in path:  # dict keys, tuple indices, CellParams fields
            named = isinstance(p, str) and not isinstance(tree, dict)
            tree = getattr(tree, p) if named else tree[p]
        return tree

    for path, first_col in picks:
        a = np.asarray(get(params, path))
        for _ in range(3):
            j = tuple(int(rng.integers(0 if (first_col is None or d == 0) else first_col, s))
                      for d, s in enumerate(a.shape))  # fmt: skip
            if path[-1] == "embed":
                j = (int(rng.integers(1, a.shape[0])), j[1])  # a character that occurs
            plus, minus = a.copy(), a.copy()
            plus[j] += eps
            minus[j] -= eps

            def with_leaf(new, path=path):
                return jax.tree.map(lambda x: new if x is get(params, path) else x, params)

            fd = (float(value_and_grad(with_leaf(plus))[0])
                  - float(value_and_grad(with_leaf(minus))[0])) / (2 * eps)  # fmt: skip
            assert fd == pytest.approx(float(np.asarray(get(grads, path))[j]), rel=1e-5, abs=1e-9)


def test_padding_width_does_not_change_the_logits(case):
    """More padding characters per word (a wider ``W``) or more padding steps leave every
    real token's logits as they were: what lets the predictor pad to few shapes."""
    model, _, params, ids, lengths, chars, *_ = case
    ref = np.asarray(model.apply(params, ids, lengths, chars=chars))
    wide = np.pad(chars, ((0, 0), (0, 2), (0, 3)))
    out = np.asarray(model.apply(params, np.pad(ids, ((0, 0), (0, 2))), lengths, chars=wide))
    valid = np.arange(T)[None, :] < lengths[:, None]
    np.testing.assert_allclose(out[:, :T][valid], ref[valid], rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="pass chars"):
        model.apply(params, ids, lengths)


# ----------------------------------------------------------------------------- character ids


def test_character_ids_by_hand():
    sents = [Sentence(["ab", "ba", "c"], ["X", "Y", "X"]), Sentence(["aa"], ["Y"])]
    vocab = TagVocab.fit(sents, chars=True)
    assert vocab.chars == ["a", "b", "c"]  # a: 4 times, b: 2, c: 1
    assert vocab.num_chars == 5
    e = vocab.encode([(["ca", "dab"], None)])
    assert e.chars.shape == (1, 2, 3) and e.chars.dtype == np.uint16
    np.testing.assert_array_equal(e.chars[0], [[4, 2, 0], [1, 2, 3]])  # d: unknown (1)
    # a word longer than the width keeps its first and last halves
    long = "a" * 20 + "b" * 20 + "c" * 5
    row = vocab.encode([([long], None)]).chars[0, 0]
    assert len(row) == MAX_WORD_CHARS
    np.testing.assert_array_equal(row, [2] * 16 + [3] * 11 + [4] * 5)
    # padding steps hold no characters; the width may be given
    e = vocab.encode([(["ab"], None), (["c", "ab", "a"], None)], char_len=6)
    assert e.chars.shape == (2, 3, 6) and not e.chars[0, 1:].any()
    # kept with the vocabulary; a dict without chars (every earlier checkpoint) has none
    d = vocab.to_dict()
    assert d["chars"] == ["a", "b", "c"] and TagVocab.from_dict(d) == vocab
    old = TagVocab.fit(sents)
    assert "chars" not in old.to_dict() and TagVocab.from_dict(old.to_dict()).chars is None
    assert old.encode([(["ab"], None)]).chars is None
    with pytest.raises(ValueError, match="single characters"):
        TagVocab(["x"], ["X"], chars=["ab"])


# ----------------------------------------------------------------------------- the commands


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("chars")
    tr, te = d / "train.conll", d / "test.conll"
    write_conll(tr, make_tagging(120, seed=0))
    test = make_tagging(30, seed=0, split="test")
    # words never seen in training, one far longer than MAX_WORD_CHARS (cut)
    test = [Sentence(["Qzxw" + s.tokens[0], *s.tokens[1:]], s.tags) for s in test]
    test[0] = Sentence(["Verylong" * 6, *test[0].tokens[1:]], test[0].tags)
    write_conll(te, test)
    return d, tr, te


def _predicted(ckpt, sents, capsys) -> list[list[str]]:
    capsys.readouterr()
    assert predict_main(["--checkpoint", str(ckpt), "--json", "--tokens",
                         *[" ".join(s.tokens) for s in sents]]) == 0  # fmt: skip
    return [json.loads(line)["tags"] for line in capsys.readouterr().out.splitlines()]


def test_train_save_predict_round_trip(files, capsys):
    """Length buckets (rows sorted, characters with them), a checkpoint, then ``python -m
    jaxrnn.predict`` (other padding, other batches): its tags score exactly the run's test
    token and unknown-word accuracy."""
    d, tr, te = files
    js, ckpt = d / "run.json", d / "c.ckpt"
    assert train_main(["--task", "tag", "--model", "bilstm", "--data", str(tr), "--test-data",
                       str(te), "--epochs", "2", "--batch-size", "16", "--hidden", "8",
                       "--embed-dim", "8", "--char-embed", "6", "--char-hidden", "5",
                       "--buckets", "2", "--json", str(js), "--save", str(ckpt),
                       "--quiet"]) == 0  # fmt: skip
    out = json.loads(js.read_text())
    assert out["config"]["char_embed"] == 6 and out["config"]["char_hidden"] == 5
    final = out["final"]
    pred = load_predictor(str(ckpt))
    assert pred.vocab.chars is not None and "Q" not in pred.vocab.chars
    sents = load_conll(te)
    tags = _predicted(ckpt, sents, capsys)
    hits = [a == b for s, p in zip(sents, tags, strict=True)
            for a, b in zip(s.tags, p, strict=True)]  # fmt: skip
    assert final["test_token_acc"] == pytest.approx(np.mean(hits), rel=1e-12)
    known = set(pred.vocab.words)
    unk = [a == b for s, p in zip(sents, tags, strict=True)
           for w, a, b in zip(s.tokens, s.tags, p, strict=True) if w not in known]  # fmt: skip
    assert final["test_unk_tokens"] == len(unk) >= len(sents)
    assert final["test_unk_acc"] == pytest.approx(np.mean(unk), rel=1e-12)
    # the checkpoint resumes: its characters encode the data again as they were
    js3 = d / "resumed.json"
    assert train_main(["--resume", str(ckpt), "--epochs", "3", "--json", str(js3),
                       "--quiet"]) == 0  # fmt: skip
    history = json.loads(js3.read_text())["history"]
    assert len(history) == 3 and history[:2] == out["history"]


def test_checkpoint_from_before_chars_still_serves(files, capsys, tmp_path):
    """A tagger saved without the option, its metadata stripped of every trace of it (as a
    checkpoint written before it): it loads and tags as before."""
    _, tr, te = files
    ckpt = tmp_path / "plain.ckpt"
    assert train_main(["--task", "tag", "--model", "lstm", "--data", str(tr), "--test-data",
                       str(te), "--epochs", "1", "--hidden", "4", "--embed-dim", "4",
                       "--save", str(ckpt), "--quiet"]) == 0  # fmt: skip
    meta, arrays = checkpoint_file.load(str(ckpt))
    assert "chars" not in meta["tokenizer"]
    for k in ("char_embed", "char_hidden"):
        del meta["config"][k]
    old = tmp_path / "old.ckpt"
    checkpoint_file.save(str(old), meta, arrays)
    assert load_predictor(str(old)).vocab.chars is None
    sents = load_conll(te)[:5]
    assert _predicted(old, sents, capsys) == _predicted(ckpt, sents, capsys)


@pytest.mark.parametrize("args,msg", [
    (["--task", "tag", "--char-embed", "-1"], "--char-embed must be >= 0"),
    (["--task", "tag", "--char-embed", "8", "--char-hidden", "0"],
     "--char-hidden must be at least 1"),
    (["--task", "tag", "--char-hidden", "10"], "--char-hidden 10 sizes --char-embed's"),
    (["--task", "classify", "--char-embed", "8"], "for --task tag, not --task classify"),
    (["--task", "lm", "--model", "lstm", "--char-embed", "8"], "for --task tag, not --task lm"),
    (["--task", "regress", "--char-hidden", "30"], "encoder of --task tag, not of --task regress"),
    (["--task", "tag", "--backend", "numpy", "--char-embed", "8"], "needs --backend jax"),
])  # fmt: skip
def test_bad_flags_one_line(args, msg, capsys):
    assert train_main(args) == 2
    err = capsys.readouterr().err
    assert msg in err and err.count("\n") == 1, err


@pytest.mark.parametrize("task", ["classify", "lm", "regress"])
def test_config_refuses_char_embed_off_tag(task):
    with pytest.raises(ConfigError, match="characters of words for --task tag"):
        resolve_config(TrainConfig(task=task, model="lstm", char_embed=8))


def test_vocabulary_without_chars_is_refused():
    from jaxrnn.runs.task_tag import build_model

    cfg = resolve_config(TrainConfig(task="tag", model="lstm", char_embed=8))
    with pytest.raises(ConfigError, match="has none"):
        build_model(cfg, TagVocab(["a"], ["X"]), ["X"])
