"""Language models (jaxrnn.nn.lm, --task lm, python -m jaxrnn.generate), float64 where compared.

* the library's model and gradient (custom VJP) == the NumPy reference's hand-written BPTT
  with a loss at every step (``jaxrnn.scratch.seq.lm_loss_and_grads``) from a carried state;
* the task's carry: chunks one after another == one long sequence; ``evaluate`` threads the
  carry through its batches (any batch size, the same numbers);
* the NumPy backend and the JAX backend follow the same loss curve;
* sampling: top-k 1 is the greedy continuation a Python loop computes; same seed, same text;
* the command lines: one-line errors, the JSON keys, generation from a checkpoint.
"""

import json
import math
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.errors import ConfigError
from jaxrnn.nn import lm
from jaxrnn.nn.sequence import RecurrentLayer
from jaxrnn.runs.config import TrainConfig
from jaxrnn.runs.prepare_lm import one_stream_rows, train_rows
from jaxrnn.scratch import seq
from jaxrnn.scratch.layers import LSTMState
from jaxrnn.training import loop, tasks
from jaxrnn.training.tasks import Batch

B, T, H, V, E = 3, 5, 4, 7, 3
TEXT = "the fox sees the owl. the owl sees a fox.\nthe old king sleeps.\n" * 4


def model_and_params(cell, embed, layers=1, seed=0):
    model = lm.LanguageModel(RecurrentLayer(cell, H, layers), V, E if embed else None)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), model.init_numpy(seed, np.float64))
    rng = np.random.default_rng(seed)  # make every entry non-trivial (biases are 0 at init)
    params = jax.tree.map(lambda a: a + rng.normal(0, 0.3, a.shape), params)
    return model, params


def to_numpy(params):
    p = jax.tree.map(np.asarray, params)
    p["rnn"] = tuple(tuple(seq.CellParams(*c) for c in layer) for layer in p["rnn"])
    return p


def test_sampling_arguments_one_token_prime_and_default_seed():
    """A one-token prime and a length of 1 are valid (the greedy token after the prime); a
    longer prime is read whole;
    an empty prime, a length or count below 1 and a temperature that is not > 0 are
    ``ValueError``s; no seed is seed 0."""
    model, params = model_and_params("gru", True)
    logits, _ = jax.jit(model.apply)(params, jnp.asarray([[5]]))
    greedy = int(jnp.argmax(logits[0, -1]))
    assert lm.sample(model, params, [5], 1, top_k=1).tolist() == [[greedy]]
    assert lm.sample(model, params, np.array([[5]]), 1, top_k=1).tolist() == [[greedy]]
    # the whole prime conditions the draw, one sample or several: a prime whose arg-max
    # next token differs from its last token's alone
    model, params = model_and_params("lstm", True)
    primes = np.random.default_rng(0).integers(0, V, (40, 4))
    apply = jax.jit(model.apply)
    full = np.asarray(jnp.argmax(apply(params, jnp.asarray(primes))[0][:, -1], -1))
    last = np.asarray(jnp.argmax(apply(params, jnp.asarray(primes[:, -1:]))[0][:, -1], -1))
    i = int(np.flatnonzero(full != last)[0])
    for n in (1, 2):
        toks = lm.sample(model, params, primes[i], 1, top_k=1, num_samples=n)
        assert toks.tolist() == [[full[i]]] * n
    bad = [(dict(prime_ids=[], length=3), "at least one token"),
           (dict(length=0), "length and num_samples"), (dict(num_samples=0), "length and"),
           (dict(temperature=0.0), "temperature"), (dict(temperature=-1.0), "temperature")]
    for kw, words in bad:
        kw = {"prime_ids": [1, 2], "length": 3, **kw}
        with pytest.raises(ConfigError, match=words):  # a ValueError the commands print
            lm.sample(model, params, **kw)
    a = lm.sample(model, params, [1, 2], 6, num_samples=2)
    assert (a == lm.sample(model, params, [1, 2], 6, seed=0, num_samples=2)).all()


def test_default_model_embeds_in_32_dims_without_dropout_and_readout_dropout_needs_a_key():
    """``LanguageModel(layer, V)``: an embedding ``[V, 32]``, no dropout (a key changes
    nothing). With ``dropout`` the readout sees inverted dropout only when a key is given
    (training); without one (evaluation) the logits are the dropout-free model's."""
    layer = RecurrentLayer("lstm", H)
    model = lm.LanguageModel(layer, V)
    params = jax.tree.map(jnp.asarray, model.init_numpy(0, np.float64))
    assert params["embed"].shape == (V, 32) and model.dropout == 0.0
    ids, key = jnp.asarray([[1, 2, 3, 4]]), jax.random.key(3)
    plain = model.apply(params, ids)[0]
    np.testing.assert_array_equal(model.apply(params, ids, key=key)[0], plain)
    dropped = lm.LanguageModel(layer, V, dropout=0.5)
    np.testing.assert_array_equal(dropped.apply(params, ids)[0], plain)
    train = dropped.apply(params, ids, key=key)[0]
    assert not np.allclose(train, plain)
    np.testing.assert_array_equal(dropped.apply(params, ids, key=key)[0], train)  # seeded
    # each readout input is dropped (0) or scaled by 2: the logits are w_out @ (m * h) + b
    h, _ = layer.apply(params["rnn"], params["embed"][ids])
    masked = np.linalg.lstsq(np.asarray(params["w_out"]), np.asarray(
        train - params["b_out"])[0].T, rcond=None)[0].T  # [T, H]: m * h, recovered
    ratio = masked / np.asarray(h[0])
    assert np.allclose(ratio, np.round(ratio)) and set(np.round(ratio).ravel()) <= {0.0, 2.0}


def _check_law(style: str, p: dict, hidden: int) -> None:
    """``"keras"``: embedding within +-0.05, forget bias 1; ``"torch"``: every recurrent and
    readout array uniform over +-1/sqrt(H) (the larger ones reach near both ends)."""
    bound = 1 / np.sqrt(hidden)
    if style == "keras":
        assert np.abs(p["embed"]).max() <= 0.05
        np.testing.assert_array_equal(p["rnn"][0][0].b_ih[hidden : 2 * hidden], 1.0)
        return
    for x in [*jax.tree.leaves(p["rnn"]), p["w_out"], p["b_out"]]:
        x = np.asarray(x)
        assert np.abs(x).max() <= bound and x.max() - x.min() > bound / 4  # not a constant
        assert x.size < 30 or (x.min() < -0.8 * bound and x.max() > 0.8 * bound)


def test_init_follows_each_style_in_jax_and_numpy_and_is_seeded():
    """``init(key)`` and ``init_numpy(seed)`` draw each style's law with one structure:
    "keras" (embedding within +-0.05, forget bias 1) and "torch" (uniform over
    +-1/sqrt(H); one-hot inputs supported; a parallel cell keeps its own initialiser, the
    LRU's ring), from the key or seed; "min_char" is min-char-rnn's draw (seed 0)."""
    key0, key1 = jax.random.key(0), jax.random.key(1)
    hidden = 9  # sqrt(H) is not H / 2
    for style, embed in (("torch", E), ("torch", None), ("keras", E)):
        model = lm.LanguageModel(RecurrentLayer("lstm", hidden), V, embed, init_style=style)
        a, b = model.init(key0, jnp.float64), model.init(key1, jnp.float64)
        ref, ref1 = model.init_numpy(0, np.float64), model.init_numpy(1, np.float64)
        assert jax.tree.structure(a) == jax.tree.structure(ref)
        for x, y, z, w in zip(*map(jax.tree.leaves, (a, ref, b, ref1)), strict=True):
            assert x.shape == y.shape and x.dtype == y.dtype
            assert (not np.array_equal(x, z) and not np.array_equal(y, w)) or (
                style == "keras" and np.array_equal(x, z))  # keras: constant biases
        np.testing.assert_array_equal(jax.tree.leaves(model.init(key0, jnp.float64))[0],
                                      jax.tree.leaves(a)[0])  # fmt: skip
        assert ("embed" in a) == (embed is not None)
        _check_law(style, a, hidden)
        _check_law(style, ref, hidden)
    ring = lm.LanguageModel(RecurrentLayer("lru", H), V, E, init_style="torch")
    for p in (ring.init(key0, jnp.float64), ring.init_numpy(0, np.float64)):
        assert jax.tree.structure(p) == jax.tree.structure(ring.init_numpy(1, np.float64))
        radius = np.exp(-np.exp(np.asarray(p["rnn"][0][0].nu_log)))
        assert ((radius >= 0.9) & (radius <= 0.999)).all()  # the LRU's ring, not +-1/sqrt(H)
    mc = lm.LanguageModel(RecurrentLayer("rnn", H), V, None, init_style="min_char")
    ref = seq.min_char_init(V, H, 0)
    got = mc.init(key1, jnp.float64)
    np.testing.assert_allclose(got["rnn"][0][0].w_hh, ref["rnn"][0][0].w_hh, rtol=1e-15)
    np.testing.assert_allclose(got["w_out"], ref["w_out"], rtol=1e-15)


def test_moved_names_still_resolve_and_unknown_ones_are_attribute_errors():
    for name in ("lm_task", "word_level", "LMRows", "LMOut"):
        assert getattr(lm, name) is getattr(tasks, name)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        lm.nope  # noqa: B018


@pytest.mark.parametrize("cell,embed,layers", [("rnn", False, 1), ("lstm", True, 2),
                                               ("gru", True, 1)])  # fmt: skip
def test_grad_equals_numpy_bptt_with_carried_state(cell, embed, layers):
    model, params = model_and_params(cell, embed, layers)
    rng = np.random.default_rng(1)
    ids, targets = rng.integers(0, V, (B, T)), rng.integers(0, V, (B, T))
    state0 = model.zero_state(B, jnp.float64)
    state0 = jax.tree.map(lambda z: z + rng.normal(0, 0.5, z.shape), state0)  # a carried state

    def loss(p):
        logits, final = model.apply(p, jnp.asarray(ids), state0)
        nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], -1)
        return jnp.mean(nll), final

    (value, final), grads = jax.value_and_grad(loss, has_aux=True)(params)
    np_state = jax.tree.map(np.asarray, state0)
    np_state = LSTMState(*np_state) if cell == "lstm" else np_state
    ref = seq.lm_loss_and_grads(to_numpy(params), ids, targets, np_state, cell)
    np.testing.assert_allclose(float(value), ref.loss, rtol=1e-10)
    for a, b in zip(jax.tree.leaves(final), jax.tree.leaves(ref.final_state), strict=True):
        np.testing.assert_allclose(np.asarray(a), b, rtol=1e-10, atol=1e-12)
    got = jax.tree.leaves(grads)
    want = jax.tree.leaves(jax.tree.map(jnp.asarray, {k: ref.grads[k] for k in params},
                                        is_leaf=lambda x: x is None))  # fmt: skip
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-9, atol=1e-12)


def test_min_char_model_is_the_numpy_reference():
    """--model rnn's params are min_char_init's (one hidden bias) and compute its loss."""
    model = lm.LanguageModel(RecurrentLayer("rnn", 6), V, None, init_style="min_char")
    params = model.init_numpy(3, np.float64)
    ref = seq.min_char_init(V, 6, 3)
    assert params["rnn"][0][0].b_hh is None
    np.testing.assert_array_equal(params["rnn"][0][0].w_ih, ref["rnn"][0][0].w_ih)
    ids = np.arange(10)[None] % V
    logits, _ = model.apply(jax.tree.map(jnp.asarray, params), jnp.asarray(ids))
    nll = -jax.nn.log_softmax(logits)[0, np.arange(9), ids[0, 1:]]
    r = seq.lm_loss_and_grads(ref, ids[:, :-1], ids[:, 1:], None, "rnn")
    np.testing.assert_allclose(float(jnp.mean(nll)), r.loss, rtol=1e-12)


def test_task_carries_state_across_chunks_and_evaluate_threads_it():
    model, params = model_and_params("lstm", True)
    ids = np.random.default_rng(2).integers(0, V, 4 * T * B + B)
    rows = train_rows(ids, B, T)  # [K=4, B, T]
    k = rows.inputs.shape[0]
    task = tasks.lm_task(model, B)
    data = tasks.LMRows(*map(jnp.asarray, rows))
    # one long forward over each stream == the chunks one after another, state carried
    streams = rows.inputs.transpose(1, 0, 2).reshape(B, k * T)
    targets = rows.targets.transpose(1, 0, 2).reshape(B, k * T)
    apply = jax.jit(model.apply)
    logits, _ = apply(params, jnp.asarray(streams))
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), targets[..., None], -1)[..., 0]
    whole = float(jnp.mean(nll))
    run = jax.jit(lambda p, d, w, c: task.apply(model, p, Batch(d, w), c, None))
    out, _ = run(params, data, jnp.ones(k), task.init_carry(model, params, k))
    np.testing.assert_allclose(float(jnp.mean(out.nll)), whole, rtol=1e-12)
    # evaluate: batches of 1, 3 (last one padded) and all chunks give the same numbers
    for bs in (1, 3):
        metrics, _ = jax.jit(lambda p, d, bs=bs: loop.evaluate(model, task, p, d, bs))(params, data)
        np.testing.assert_allclose(float(metrics[0]), whole, rtol=1e-12)
        np.testing.assert_allclose(float(metrics[2]), whole / math.log(2), rtol=1e-12)
    # a row of weight 0 leaves the state as it was
    one = jax.tree.map(lambda a: a[:1], data)
    c0 = task.init_carry(model, params, 1)
    _, c1 = run(params, one, jnp.zeros(1), c0)
    for a, b in zip(jax.tree.leaves(c0), jax.tree.leaves(c1), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the test text as one stream (padded last chunk) uses the carry's first row
    test = one_stream_rows(ids[: 2 * T + 3], T)
    assert test.inputs.shape == (3, 1, T) and test.mask.sum() == 2 * T + 2
    test = tasks.LMRows(*map(jnp.asarray, test))
    metrics, _ = jax.jit(lambda p, d: loop.evaluate(model, task, p, d, 2))(params, test)
    logits, _ = apply(params, jnp.asarray(ids[None, : 2 * T + 2]))
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), ids[None, 1 : 2 * T + 3, None], -1)
    np.testing.assert_allclose(float(metrics[0]), float(jnp.mean(nll)), rtol=1e-12)


def test_sampling_top1_is_greedy_and_seeded():
    model, params = model_and_params("gru", True)
    prime = np.array([1, 4, 2])
    toks = lm.sample(model, params, prime, 8, top_k=1, seed=5)
    # greedy: every drawn token is the arg-max after the prime and the tokens before it
    logits, _ = jax.jit(model.apply)(params, jnp.asarray(np.concatenate([prime, toks[0]])[None]))
    assert toks[0].tolist() == np.asarray(jnp.argmax(logits[0, 2:-1], -1)).tolist()
    a = lm.sample(model, params, prime, 30, seed=1, temperature=0.9, top_k=4, num_samples=3)
    b = lm.sample(model, params, prime, 30, seed=1, temperature=0.9, top_k=4, num_samples=3)
    c = lm.sample(model, params, prime, 30, seed=2, temperature=0.9, top_k=4, num_samples=3)
    assert a.shape == (3, 30) and (a == b).all() and (a != c).any()


# chi-square 0.999 quantiles by degrees of freedom (a correct sampler fails 1 seed in 1000)
CHI2_999 = {2: 13.816, 6: 22.458}


def _chi2(draws: np.ndarray, p: np.ndarray) -> tuple[float, int]:
    """Pearson's statistic of ``draws`` against probabilities ``p [V]``, and its df."""
    support = p > 0
    assert np.isin(draws, np.flatnonzero(support)).all()  # nothing drawn outside the support
    counts = np.bincount(draws, minlength=len(p))[support]
    expect = len(draws) * p[support]
    return float(((counts - expect) ** 2 / expect).sum()), int(support.sum()) - 1


def test_sampling_follows_the_temperature_and_top_k_distributions():
    """The first drawn token against ``softmax(logits / temperature)`` over the ``top_k``
    most likely (4000 draws, chi-square; the defaults: temperature 1, all tokens); along
    whole samples no token is outside the k most likely at its step; a temperature near 0 is
    the greedy continuation."""
    model, params = model_and_params("gru", True)
    prime = np.array([1, 4, 2])
    logits = np.asarray(jax.jit(model.apply)(params, jnp.asarray(prime[None]))[0][0, -1])
    assert len(set(np.round(logits, 6))) == V  # no ties: "the k most likely" is one set
    for temperature, top_k in [(1.0, 0), (0.4, 0), (2.5, 3)]:
        z = logits / temperature
        if top_k:
            z = np.where(z >= np.sort(z)[-top_k], z, -np.inf)
        p = np.exp(z - z.max())
        p /= p.sum()
        if (temperature, top_k) == (1.0, 0):  # the defaults: the model's own distribution
            kw = {}
        else:
            kw = dict(temperature=temperature, top_k=top_k)
        draws = lm.sample(model, params, prime, 1, seed=7, num_samples=4000, **kw)[:, 0]
        stat, df = _chi2(draws, p)
        assert stat < CHI2_999[df], (temperature, top_k, stat)
    # top-k along 40 samples of 12 tokens: each token among its step's 2 most likely
    toks = lm.sample(model, params, prime, 12, seed=3, temperature=3.0, top_k=2, num_samples=40)
    ids = np.concatenate([np.broadcast_to(prime, (40, 3)), toks], 1)
    step = np.asarray(jax.jit(model.apply)(params, jnp.asarray(ids))[0])[:, 2:-1]  # [40, 12, V]
    rank = (step > np.take_along_axis(step, toks[..., None], -1)).sum(-1)  # 0: the arg-max
    assert rank.max() == 1 and (rank == 1).mean() > 0.3  # the second is drawn, the third never
    # temperature -> 0: the arg-max path (as top-k 1)
    cold = lm.sample(model, params, prime, 12, seed=3, temperature=1e-4, num_samples=5)
    greedy = lm.sample(model, params, prime, 12, seed=0, top_k=1)
    assert (cold == greedy).all()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("lm") / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


def test_numpy_backend_and_jax_twin_same_loss_curve(corpus):
    from jaxrnn.runs.run import fit

    # --eval-train: the JAX run scores the training text after every epoch, as NumPy's does
    kw = dict(task="lm", model="rnn", data=corpus, epochs=3, hidden=8, seq_len=7,
              batch_size=2, dtype="float64", test_fraction=0.25, eval_train=True)  # fmt: skip
    r_np = fit(TrainConfig(backend="numpy", **kw))
    r_jax = fit(TrainConfig(backend="jax", **kw))
    assert r_np.metric_names == r_jax.metric_names
    for a, b in zip(r_np.history, r_jax.history, strict=True):
        for name in r_np.metric_names:
            assert a[name] == pytest.approx(b[name], rel=1e-9), name
    assert r_np.history[-1]["train_loss"] < r_np.history[0]["train_loss"]


def test_cli_json_checkpoint_and_generate(corpus, tmp_path, capsys):
    from jaxrnn.cli.generate import main as generate
    from jaxrnn.cli.train import main as train

    out, ck = tmp_path / "lm.json", str(tmp_path / "lm.ckpt")
    args = ["--task", "lm", "--model", "gru", "--data", corpus, "--epochs", "2", "--hidden", "8",
            "--embed-dim", "4", "--batch-size", "2", "--seq-len", "8", "--clip-norm", "5"]
    assert train([*args, "--json", str(out), "--save", ck, "--quiet"]) == 0
    d = json.loads(out.read_text())
    f = d["final"]
    for key in ("train_loss", "test_loss", "test_ppl", "test_bpc"):
        assert math.isfinite(f[key]), key
    assert f["test_ppl"] == pytest.approx(math.exp(f["test_loss"]))
    assert f["test_bpc"] == pytest.approx(f["test_loss"] / math.log(2))
    assert d["tokens_per_s"] > 0 and d["train_tokens"] > 0
    capsys.readouterr()
    args = ["--checkpoint", ck, "--prime", "the ", "--length", "40", "--seed", "3", "--quiet"]
    assert generate(args) == 0
    first = capsys.readouterr().out
    assert generate(args) == 0
    assert capsys.readouterr().out == first and first.startswith("the ") and len(first) == 45
    assert generate(["--checkpoint", ck, "--prime", "the QX"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "'Q', 'X'" in err
    assert train(["--task", "lm", "--model", "bilstm", "--data", corpus]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "bilstm" in err


def test_a_word_model_generates_without_a_prime(corpus, tmp_path, capsys):
    """No ``--prime``: a word model starts from its end-of-sentence token (found by index: the
    word tokenizer would split "<eos>" into three unknown words, as it once did)."""
    from jaxrnn.cli.generate import main as generate
    from jaxrnn.cli.train import main as train
    from jaxrnn.data.text import EOS
    from jaxrnn.runs.predictor import load_predictor

    ck = str(tmp_path / "words.ckpt")
    assert train(["--task", "lm", "--level", "word", "--model", "gru", "--data", corpus,
                  "--epochs", "1", "--hidden", "4", "--embed-dim", "4", "--batch-size", "2",
                  "--seq-len", "4", "--save", ck, "--quiet"]) == 0  # fmt: skip
    pred = load_predictor(ck)
    assert EOS in pred.vocab.index
    ids = pred.sample_ids(None, 6, seed=1)
    assert ids.shape == (1, 6) and ids.min() >= 0 and ids.max() < pred.vocab.size
    for prime in ([], ["--prime", ""]):
        capsys.readouterr()
        assert generate(["--checkpoint", ck, "--length", "6", "--seed", "1", "--quiet",
                         *prime]) == 0, capsys.readouterr().err  # fmt: skip
        assert capsys.readouterr().out.strip() == pred.vocab.decode(ids[0]).strip()
    from jaxrnn.errors import UsageError

    with pytest.raises(UsageError, match=r"^text 2 of 2 \(''\): the text has no tokens"):
        pred.predict(["the", ""])  # which line of many failed


def test_numpy_backend_is_min_char_rnn(corpus):
    """One epoch of --backend numpy --task lm (1 stream) ends on the weights of Karpathy's
    loop (``scratch.seq.min_char_rnn``, optax's Adagrad constants) after as many steps."""
    from jaxrnn.runs import numpy_lm
    from jaxrnn.runs.config import resolve_config
    from jaxrnn.runs.prepare_lm import prepare_lm
    from jaxrnn.scratch.optim import tree_leaves

    cfg = resolve_config(TrainConfig(task="lm", model="rnn", backend="numpy", data=corpus,
                                     epochs=1, hidden=6, seq_len=9))  # fmt: skip
    data = prepare_lm(cfg)
    k = data.train.inputs.shape[0]
    params, _ = numpy_lm.train_seed(cfg, data.train, data.test, data.tokenizer.size, 0,
                                    lambda rec: None)  # fmt: skip
    train_text = data.tokenizer.decode(np.concatenate([data.train.inputs[:, 0].reshape(-1),
                                                       data.train.targets[-1, 0, -1:]]))
    assert seq.char_vocab(train_text) == "".join(data.tokenizer.tokens)
    _, ref = seq.min_char_rnn(train_text + "..", 6, 9, 0.1, 5.0, k, seed=0,
                              initial_accumulator_value=0.1, eps=1e-7)  # fmt: skip
    for a, b in zip(tree_leaves(params), tree_leaves(ref), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def _hand_word_ppl(params: dict, tokens: list[str]) -> float:
    """min-char-rnn read by hand over the test words of ``TEXT`` (the last 20%, one stream
    from a zero state): ``exp`` of the mean cross-entropy of each next word."""
    words = [w for line in TEXT.split("\n")[:-1] for w in [*re.findall(r"\w+|[^\w\s]", line),
                                                           "<eos>"]]  # fmt: skip
    assert len(words) == 76
    ids = [tokens.index(w) for w in words[-round(0.2 * len(words)):]]
    cell = params["rnn"][0][0]
    h, nll = np.zeros(cell.w_hh.shape[0]), []
    for x, y in zip(ids[:-1], ids[1:], strict=True):
        h = np.tanh(cell.w_ih[:, x] + cell.w_hh @ h + cell.b_ih)
        z = params["w_out"] @ h + params["b_out"]
        nll.append(np.log(np.exp(z - z.max()).sum()) + z.max() - z[y])
    return math.exp(np.mean(nll))


@pytest.mark.parametrize("backend", ["numpy", "jax"])
def test_word_level_perplexity_is_the_hand_computed_one(corpus, backend):
    from jaxrnn.runs.run import fit

    r = fit(TrainConfig(task="lm", model="rnn", backend=backend, data=corpus, level="word",
                        epochs=1, hidden=4, seq_len=5, dtype="float64"))  # fmt: skip
    params = jax.tree.map(np.asarray, r.params)
    ppl = _hand_word_ppl(params, r.tokenizer.tokens)
    assert r.final["test_ppl"] == pytest.approx(ppl, rel=1e-9)
    assert r.final["test_loss"] == pytest.approx(math.log(ppl), rel=1e-9)
    assert 2 < ppl < len(r.tokenizer.tokens) + 1  # trained one epoch: near uniform, not it


def test_word_level_and_one_line_errors(corpus, tmp_path, capsys):
    from jaxrnn.cli.train import main as train
    from jaxrnn.runs.run import fit

    r = fit(TrainConfig(task="lm", model="rnn", backend="numpy", data=corpus, level="word",
                        epochs=1, hidden=4, seq_len=5))  # fmt: skip
    assert r.metric_names == ("train_loss", "train_acc", "test_loss", "test_acc")
    assert math.isfinite(r.final["test_ppl"])
    one = tmp_path / "one.txt"
    one.write_text("aaaa")
    cases = [
        (["--model", "rnn", "--embed-dim", "8"], "one-hot"),
        (["--model", "gru", "--backend", "numpy"], "--model rnn"),
        (["--model", "rnn", "--backend", "numpy", "--dropout", "0.1"], "no dropout"),
        (["--resplit"], "--resplit"),
        (["--data", str(one)], "single distinct"),
    ]
    for extra, words in cases:
        data = [] if "--data" in extra else ["--data", corpus]
        assert train(["--task", "lm", *data, "--epochs", "1", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and words in err, (extra, err)
