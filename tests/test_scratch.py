"""The NumPy reference on its own: finite differences, the study's BPTT error, no JAX."""

import subprocess
import sys

import numpy as np
import pytest

from jaxrnn import scratch


def centred_differences(f, params, eps=1e-6):
    grads = {}
    for k, v in params.items():
        g = np.zeros_like(v)
        for idx in np.ndindex(v.shape):
            old = v[idx]
            v[idx] = old + eps
            up = f(params)
            v[idx] = old - eps
            down = f(params)
            v[idx] = old
            g[idx] = (up - down) / (2 * eps)
        grads[k] = g
    return grads


def rel_error(a, b):
    return np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b)))


@pytest.mark.parametrize("hidden,length", [(3, 1), (5, 4), (4, 7)])
def test_exact_bptt_matches_finite_differences(hidden, length, rng):
    params = scratch.init_params(6, hidden, 3, seed=hidden)
    for k in params:  # weights big enough that the gradient is not tiny everywhere
        params[k] = rng.normal(0, 0.5, params[k].shape)
    seq = rng.integers(0, 6, size=length)
    loss, grads = scratch.loss_and_grads(params, seq, 2)
    num = centred_differences(lambda p: scratch.loss_and_grads(p, seq, 2)[0], params)
    for k in params:
        assert grads[k].shape == params[k].shape
        assert rel_error(grads[k], num[k]) < 1e-6, k
    assert loss > 0


def test_study_bptt_is_not_the_gradient(rng):
    """The study's W_hh·delta propagation differs from the true gradient, measurably."""
    params = scratch.init_params(6, 8, seed=0)
    for k in params:
        params[k] = rng.normal(0, 0.5, params[k].shape)
    seq = rng.integers(0, 6, size=6)
    _, exact = scratch.loss_and_grads(params, seq, 1, bptt="exact")
    _, study = scratch.loss_and_grads(params, seq, 1, bptt="study")
    # Readout and the last step's gradients agree; everything before it goes through W_hh.
    np.testing.assert_allclose(study["w_hy"], exact["w_hy"], rtol=1e-12)
    for k in ("w_hh", "w_xh", "b_h"):
        err = np.linalg.norm(study[k] - exact[k]) / np.linalg.norm(exact[k])
        assert err > 0.05, (k, err)
    # With a symmetric W_hh, W_hh == W_hh^T and the two agree exactly.
    params["w_hh"] = (params["w_hh"] + params["w_hh"].T) / 2
    _, exact = scratch.loss_and_grads(params, seq, 1, bptt="exact")
    _, study = scratch.loss_and_grads(params, seq, 1, bptt="study")
    for k in params:
        np.testing.assert_allclose(study[k], exact[k], rtol=1e-12, atol=1e-15)


def test_init_is_the_studys_and_seeded():
    p = scratch.init_params(18, 128, seed=3)
    assert {k: v.shape for k, v in p.items()} == {
        "w_xh": (128, 18),
        "w_hh": (128, 128),
        "b_h": (128,),
        "w_hy": (2, 128),
        "b_y": (2,),
    }
    assert 0.0008 < p["w_hh"].std() < 0.0012 and not p["b_h"].any()
    q = scratch.init_params(18, 128, seed=3)
    assert all(np.array_equal(p[k], q[k]) for k in p)


def test_empty_sentence_and_bad_bptt():
    p = scratch.init_params(4, 3, seed=0)
    loss, g = scratch.loss_and_grads(p, [], 0)
    assert np.isclose(loss, np.log(2)) and not g["w_hh"].any()
    with pytest.raises(ValueError, match="bptt"):
        scratch.loss_and_grads(p, [1], 0, bptt="nope")


def test_study_training_loop_learns(sentiment):
    from jaxrnn.data import Tokenizer

    tok = Tokenizer(num_words=25).fit(sentiment.train.texts)
    seqs = [np.array(s) - 1 for s in tok.texts_to_sequences(sentiment.train.texts)]
    # "good", "bad", "happy", "sad": from the 1/1000 init this is learnt in ~100 epochs.
    p = scratch.init_params(18, 16, seed=0)
    _, hist = scratch.train(p, seqs[:4], sentiment.train.labels[:4], epochs=100, lr=0.1, seed=0)
    assert hist[-1]["train_loss"] < 0.2 * hist[0]["train_loss"]
    assert hist[-1]["train_acc"] == 1.0
    assert np.isnan(hist[-1]["test_loss"])  # no test split given


def test_scratch_imports_no_jax():
    code = "import sys, jaxrnn.scratch; assert 'jax' not in sys.modules, 'jax imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_is_per_sample_sgd_clipped_at_one_by_default(rng):
    """``train``: for each sentence in ``orders[epoch]``, ``p -= lr * clip(grad, -1, 1)`` (the
    default clip, 1.0), then one history record per epoch numbered from 1, passed to
    ``on_epoch``, with ``evaluate``'s loss and accuracy of the params after the epoch."""
    p = scratch.init_params(5, 4, seed=0)
    for k in p:  # a big readout: gradient entries past the clip
        p[k] = rng.normal(0, 5.0 if k == "w_hy" else 0.3, p[k].shape)
    seqs = [rng.integers(0, 5, size=n) for n in (3, 5, 2)]
    labels = [0, 1, 1]
    orders = np.array([[2, 0, 1], [1, 2, 0]])
    seen = []
    got, hist = scratch.train(p, seqs, labels, seqs[:2], labels[:2], epochs=2, lr=0.3,
                              orders=orders, on_epoch=seen.append)
    want = {k: v.copy() for k, v in p.items()}
    clipped = 0
    for e in range(2):
        for i in orders[e]:
            _, g = scratch.loss_and_grads(want, seqs[i], labels[i])
            clipped += sum(int((np.abs(v) > 1.0).sum()) for v in g.values())
            for k in want:
                want[k] -= 0.3 * np.clip(g[k], -1.0, 1.0)
    assert clipped > 0
    for k in p:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12, atol=1e-14)
    assert [h["epoch"] for h in hist] == [1, 2] and seen == hist
    assert (hist[-1]["train_loss"], hist[-1]["train_acc"]) == scratch.evaluate(got, seqs, labels)
    assert (hist[-1]["test_loss"], hist[-1]["test_acc"]) == scratch.evaluate(got, seqs[:2],
                                                                             labels[:2])


def test_loss_is_stable_for_huge_logits():
    """Logits in the thousands (exp overflows float64 past ~709): the loss and gradients
    stay finite, the loss the shifted log-softmax's."""
    p = scratch.init_params(4, 3, seed=0)
    p["b_y"] = np.array([2000.0, -1000.0])
    loss, g = scratch.loss_and_grads(p, [1, 2], 1)
    y, _ = scratch.forward(p, [1, 2])
    assert loss == pytest.approx(y[0] - y[1] + np.log1p(np.exp(y[1] - y[0])), rel=1e-12)
    np.testing.assert_allclose(g["b_y"], [1.0, -1.0])
    assert all(np.isfinite(v).all() for v in g.values())
    assert scratch.evaluate(p, [[1, 2]], [0]) == (pytest.approx(0.0, abs=1e-300), 1.0)


def test_evaluate_counts_and_checks_its_inputs():
    """Accuracy is correct / number of sentences; no sentences: accuracy 0.0 (no division by
    zero); sentences and labels of different lengths are an error."""
    p = scratch.init_params(4, 3, seed=0)
    p["b_y"] = np.array([1.0, 0.0])  # predicts 0 everywhere
    loss, acc = scratch.evaluate(p, [[1], [2, 3], [0]], [0, 1, 0])
    assert acc == pytest.approx(2 / 3)
    with pytest.warns(RuntimeWarning):  # np.mean of nothing
        loss, acc = scratch.evaluate(p, [], [])
    assert np.isnan(loss) and acc == 0.0
    with pytest.raises(ValueError):
        scratch.evaluate(p, [[1], [2]], [0])


def test_train_defaults_are_the_studys():
    """``train`` by default: 500 epochs, lr 0.02, clip 1.0, exact BPTT, seed 0."""
    p = scratch.init_params(3, 2, seed=0)
    seqs, labels = [[0, 1], [2]], [1, 0]
    got, hist = scratch.train(p, seqs, labels)
    want, _ = scratch.train(p, seqs, labels, epochs=500, lr=2e-2, clip=1.0, bptt="exact", seed=0)
    assert len(hist) == 500
    for k in p:
        np.testing.assert_array_equal(got[k], want[k])
