"""``--lm-batches random``: each training step reads random windows of the training text.

* the draw (``tasks.draw_windows``): every start in ``[0, N - T - 1]`` (both ends reached),
  the windows the NumPy gather (``random_windows`` below) takes at those starts, the
  same key the same windows;
* a training step's loss is the mean cross-entropy of those windows, each read from a zero
  state by the model itself (float64); evaluation (no key) is the streams path unchanged;
* the windows come from the training part of the text only (test and validation cut off);
* a run: an epoch counts the tokens of a streams epoch, the same seed gives the same
  history, the history differs from the streams run's;
* one-line errors: another task, the NumPy backend, an unknown value.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.data.text import TextVocab, load_text, split_text
from jaxrnn.nn import lm
from jaxrnn.nn.sequence import RecurrentLayer
from jaxrnn.runs.config import TrainConfig
from jaxrnn.runs.prepare_lm import Rows, prepare_lm, train_rows
from jaxrnn.training import tasks
from jaxrnn.training.tasks import Batch

B, T, H, V = 3, 5, 4, 7
TEXT = "the fox sees the owl. the owl sees a fox.\nthe old king sleeps.\n" * 4


def random_windows(ids: np.ndarray, starts: np.ndarray, seq_len: int) -> Rows:
    """The windows of ``ids [N]`` at ``starts [..., B]`` by NumPy indexing: inputs
    ``ids[s : s + T]``, targets ``ids[s + 1 : s + T + 1]``, ``[..., B, T]`` each."""
    idx = np.asarray(starts)[..., None] + np.arange(seq_len)
    x, y = np.asarray(ids)[idx], np.asarray(ids)[idx + 1]
    return Rows(x.astype(np.int32), y.astype(np.int32), np.ones(x.shape, np.uint8))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    path = tmp_path_factory.mktemp("lmb") / "corpus.txt"
    path.write_text(TEXT)
    return str(path)


def test_windows_lie_in_the_text_and_are_seeded():
    n = 12
    ids = np.arange(100, 100 + n)  # distinct ids: a window's tokens say where it starts
    text = jnp.asarray(ids, jnp.int32)
    draw = jax.jit(lambda k: tasks.draw_windows(k, text, 100, 4, T))
    starts, x, y = map(np.asarray, draw(jax.random.key(0)))
    assert starts.shape == (100, 4) and x.shape == y.shape == (100, 4, T)
    assert starts.min() == 0 and starts.max() == n - T - 1  # every start, none past the end
    assert set(np.unique(starts)) == set(range(n - T))
    ref = random_windows(ids, starts, T)
    np.testing.assert_array_equal(x, ref.inputs)
    np.testing.assert_array_equal(y, ref.targets)
    np.testing.assert_array_equal(x[..., 0], ids[starts])  # independent of the gather
    np.testing.assert_array_equal(y, x + 1)
    again = np.asarray(draw(jax.random.key(0))[0])
    other = np.asarray(draw(jax.random.key(1))[0])
    np.testing.assert_array_equal(again, starts)
    assert (other != starts).any()


def test_a_step_reads_its_windows_from_a_zero_state():
    model = lm.LanguageModel(RecurrentLayer("lstm", H, 1), V, 3)
    params = jax.tree.map(lambda a: jnp.asarray(a, jnp.float64), model.init_numpy(0, np.float64))
    ids = np.random.default_rng(0).integers(0, V, 4 * T * B + B)
    rows = tasks.LMRows(*map(jnp.asarray, train_rows(ids, B, T)))
    one = jax.tree.map(lambda a: a[:1], rows)
    text = jnp.asarray(ids, jnp.int32)
    task = tasks.lm_task(model, B, windows=text)
    plain = tasks.lm_task(model, B)
    carry = jax.tree.map(lambda c: c + 0.5, task.init_carry(model, params, 1))  # not zero
    key = jax.random.key(3)
    out, c = task.apply(model, params, Batch(one, jnp.ones(1)), carry, key)
    _, x, y = tasks.draw_windows(key, text, 1, B, T)
    logits, _ = model.apply(params, x[0])  # from the zero state
    nll = -jnp.take_along_axis(jax.nn.log_softmax(logits), y[0][..., None], -1)[..., 0]
    np.testing.assert_allclose(np.asarray(out.nll[0]), np.asarray(nll), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(out.hit[0]),
                                  np.asarray(jnp.argmax(logits, -1) == y[0]))  # fmt: skip
    for a, b in zip(jax.tree.leaves(c), jax.tree.leaves(carry), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))  # the carry untouched
    sums, counts = task.stats(out, Batch(one, jnp.ones(1)))
    assert float(counts[0]) == B * T
    np.testing.assert_allclose(float(sums[0]) / B / T, float(jnp.mean(nll)), rtol=1e-12)
    # evaluation (no key): the streams path, state carried
    a, _ = task.apply(model, params, Batch(rows, jnp.ones(4)), carry, None)
    b, _ = plain.apply(model, params, Batch(rows, jnp.ones(4)), carry, None)
    np.testing.assert_array_equal(np.asarray(a.nll), np.asarray(b.nll))


def test_windows_come_from_the_training_part_only(corpus):
    from jaxrnn.runs.config import resolve_config

    cfg = resolve_config(TrainConfig(task="lm", model="lstm", data=corpus, test_fraction=0.25,
                                     val_fraction=0.2, lm_batches="random", batch_size=2,
                                     seq_len=6))  # fmt: skip
    text = load_text(corpus)
    ids = TextVocab.fit(text, "char").encode(text)
    train, _ = split_text(ids, 0.25)
    train, _ = split_text(train, 0.2)
    np.testing.assert_array_equal(prepare_lm(cfg).stream, train)


def test_run_counts_a_streams_epoch_and_is_seeded(corpus):
    from jaxrnn.runs.run import fit

    kw = dict(task="lm", model="lstm", data=corpus, epochs=2, hidden=8, embed_dim=4,
              seq_len=7, batch_size=2, dtype="float64", test_fraction=0.25)  # fmt: skip
    streams = fit(TrainConfig(**kw))
    r1 = fit(TrainConfig(lm_batches="random", **kw))
    r2 = fit(TrainConfig(lm_batches="random", **kw))
    assert r1.extra["train_tokens"] == streams.extra["train_tokens"] == 2 * 7 * len(
        train_rows(np.zeros(len(TEXT) * 3 // 4, np.int32), 2, 7).inputs)
    assert r1.history == r2.history
    assert r1.history[-1]["train_loss"] != streams.history[-1]["train_loss"]
    assert r1.history[-1]["test_loss"] != streams.history[-1]["test_loss"]
    assert np.isfinite(r1.history[-1]["test_bpc"])


def test_one_line_errors(corpus, capsys):
    from jaxrnn.cli.train import main as train

    cases = [
        (["--task", "classify", "--lm-batches", "random"], "--lm-batches"),
        (["--task", "lm", "--model", "rnn", "--backend", "numpy", "--lm-batches", "random"],
         "--backend numpy"),
    ]
    for extra, words in cases:
        data = ["--data", corpus] if "lm" in extra else []
        assert train([*data, "--epochs", "1", *extra]) == 2, extra
        err = capsys.readouterr().err
        assert err.strip().count("\n") == 0 and words in err, (extra, err)
    with pytest.raises(SystemExit) as e:  # argparse's choices: one line, exit 2
        train(["--task", "lm", "--data", corpus, "--lm-batches", "sideways"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.strip().count("\n") == 0 and "--lm-batches" in err
    from jaxrnn.errors import ConfigError
    from jaxrnn.runs.config import resolve_config

    with pytest.raises(ConfigError, match="--task lm"):
        resolve_config(TrainConfig(task="regress", lm_batches="random"))


def test_resume_draws_the_windows_of_the_uninterrupted_run(corpus, tmp_path):
    from jaxrnn.runs.run import fit

    kw = dict(task="lm", model="gru", data=corpus, hidden=4, embed_dim=3, seq_len=6,
              batch_size=2, lm_batches="random")  # fmt: skip
    full = fit(TrainConfig(epochs=3, **kw), save=str(tmp_path / "full.ckpt"))
    ck = str(tmp_path / "run.ckpt")
    fit(TrainConfig(epochs=1, **kw), save=ck)
    resumed = fit(TrainConfig(epochs=3), resume=ck)
    assert resumed.config.lm_batches == "random"
    assert resumed.history == full.history  # exact: the same windows, the same floats


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_lm_metrics_are_the_masked_tokens_loss_accuracy_and_bits(reduction):
    """``lm_task``'s ``stats``: nats per real token, next-token accuracy and bits per
    character (``loss / ln 2``) over the masked tokens of the real rows; ``loss`` weighs the
    same tokens (``reduction="sum"``: the chunk's summed loss); ``word_level`` keeps ``loss``
    and ``acc`` only. float64."""
    rng = np.random.default_rng(4)
    r, s, t = 2, 3, 4
    nll = rng.uniform(0.1, 3.0, (r, s, t))
    targets = rng.integers(0, V, (r, s, t))
    pred = np.where(rng.random((r, s, t)) < 0.5, targets, (targets + 1) % V)
    mask = np.ones((r, s, t))
    mask[1, 2, 2:] = 0  # a padded tail
    w = np.array([1.0, 1.0])
    task = tasks.lm_task(None, s, reduction)
    batch = Batch(tasks.LMRows(None, jnp.asarray(targets), jnp.asarray(mask)), jnp.asarray(w))
    out = tasks.LMOut(jnp.asarray(nll), jnp.asarray(pred))
    sums, counts = task.stats(out, batch)
    real = mask > 0
    loss = nll[real].mean()
    np.testing.assert_allclose(np.asarray(counts), [real.sum()] * 3)
    np.testing.assert_allclose(np.asarray(sums) / np.asarray(counts),
                               [loss, (pred == targets)[real].mean(), loss / np.log(2)],
                               rtol=1e-12)  # fmt: skip
    losses, weights = task.loss(out, batch)
    per_chunk = {"mean": loss, "sum": nll[real].sum()}[reduction]
    np.testing.assert_allclose(jnp.sum(weights * losses) / jnp.sum(weights), per_chunk,
                               rtol=1e-12)  # fmt: skip
    word = tasks.word_level(task)
    assert word.metric_names == ("loss", "acc") and task.metric_names == ("loss", "acc", "bpc")
    wsums, wcounts = word.stats(out, batch)
    np.testing.assert_array_equal(wsums, sums[:2])
    np.testing.assert_array_equal(wcounts, counts[:2])


def test_a_keyed_step_of_several_chunks_carries_the_state_and_each_chunks_dropout_key():
    """``lm_task.apply`` with a key over rows of 2 chunks (streams, no windows): the chunks run
    one after another from the carried state (each from the state the previous one left),
    chunk ``r`` with dropout from ``split(key, 2)[r]``, as the model applied by hand; the
    carry returned is the last chunk's state. float64."""
    model = lm.LanguageModel(RecurrentLayer("rnn", H), V, None, dropout=0.5)
    params = jax.tree.map(jnp.asarray, model.init_numpy(0, np.float64))
    rng = np.random.default_rng(6)
    inputs, targets = rng.integers(0, V, (2, B, T)), rng.integers(0, V, (2, B, T))
    data = tasks.LMRows(jnp.asarray(inputs), jnp.asarray(targets), jnp.ones((2, B, T)))
    task = tasks.lm_task(model, B)
    carry = task.init_carry(model, params, 2)
    key = jax.random.key(1)
    apply = jax.jit(lambda p, d, c, k: task.apply(model, p, Batch(d, jnp.ones(2)), c, k))
    out, new = apply(params, data, carry, key)
    state, nll = carry, []
    for r, k in enumerate(jax.random.split(key, 2)):
        logits, state = model.apply(params, jnp.asarray(inputs[r]), state, key=k)
        logp = jax.nn.log_softmax(logits)
        nll.append(-jnp.take_along_axis(logp, jnp.asarray(targets[r])[..., None], -1)[..., 0])
    np.testing.assert_allclose(out.nll, jnp.stack(nll), rtol=1e-12)
    for a, b in zip(jax.tree.leaves(new), jax.tree.leaves(state), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    no_key, _ = jax.jit(lambda p, d, c: task.apply(model, p, Batch(d, jnp.ones(2)), c, None))(
        params, data, carry)  # fmt: skip
    assert not np.allclose(no_key.nll, out.nll)  # the key's dropout was on


@pytest.mark.parametrize("rows, extra, s", [(1, 0, B), (1, 1, B), (2, 1, B), (1, 2, 1)])
def test_a_keyed_step_drops_out_with_its_key_and_keeps_the_streams_it_did_not_read(rows, extra,
                                                                                  s):
    """A training step of one chunk (``rows == 1``, no loop) or two: dropout from
    ``split(key, rows)[r]`` as the model applied by hand; a carry wider than the chunk's
    streams (``extra`` more; one stream of a one-layer model included) gets the chunk's
    state in its first streams and keeps the rest as they were. float64."""
    model = lm.LanguageModel(RecurrentLayer("gru", H), V, None, dropout=0.5)
    params = jax.tree.map(jnp.asarray, model.init_numpy(1, np.float64))
    rng = np.random.default_rng(7)
    inputs, targets = rng.integers(0, V, (rows, s, T)), rng.integers(0, V, (rows, s, T))
    data = tasks.LMRows(jnp.asarray(inputs), jnp.asarray(targets), jnp.ones((rows, s, T)))
    task = tasks.lm_task(model, s + extra)
    carry = jax.tree.map(lambda c: jnp.asarray(rng.normal(size=c.shape)),
                         task.init_carry(model, params, rows))  # fmt: skip
    key = jax.random.key(2)
    out, new = task.apply(model, params, Batch(data, jnp.ones(rows)), carry, key)
    state, nll = jax.tree.map(lambda c: c[:, :s], carry), []
    for r, k in enumerate(jax.random.split(key, rows)):
        logits, state = model.apply(params, jnp.asarray(inputs[r]), state, key=k)
        logp = jax.nn.log_softmax(logits)
        nll.append(-jnp.take_along_axis(logp, jnp.asarray(targets[r])[..., None], -1)[..., 0])
    np.testing.assert_allclose(out.nll, jnp.stack(nll), rtol=1e-12)
    for a, b, c in zip(jax.tree.leaves(new), jax.tree.leaves(state), jax.tree.leaves(carry),
                       strict=True):  # fmt: skip
        assert a.shape == c.shape
        np.testing.assert_allclose(a[:, :s], b, rtol=1e-12)
        np.testing.assert_array_equal(a[:, s:], c[:, s:])
