"""The study-RNN fast path (hand-written BPTT in JAX) equals the generic jax.grad + optax loop.

The reference is ``StudyRNN(impl="autodiff")``, ``jax.grad`` of the plain scan: the default
``StudyRNN`` differentiates with ``jaxrnn.nn.bptt``'s custom VJP, itself hand-written.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax

from jaxrnn import runs as T
from jaxrnn import scratch
from jaxrnn.nn.models import StudyRNN
from jaxrnn.training import per_sample_sgd as study_sgd


def test_sample_grads_equal_jax_grad(rng):
    V, H, C, TT = 6, 5, 3, 7
    model = StudyRNN(V, H, C, impl="autodiff")

    def loss(params, ids, length, label):
        logits = model.apply(params, ids[None], length[None])
        return optax.softmax_cross_entropy_with_integer_labels(logits, label[None])[0]

    grad = jax.jit(jax.grad(loss))
    fast = jax.jit(study_sgd.sample_grads, static_argnums=4)
    for length in [0, 1, 2, 5, TT]:
        params = {
            k: jnp.asarray(rng.normal(0, 0.7, v.shape))
            for k, v in scratch.init_params(V, H, C).items()
        }
        ids = np.zeros(TT, np.int32)
        ids[:length] = rng.integers(1, V + 1, size=length)
        ids[:length][::2] = ids[0] if length else 0  # repeated words: scatter-add must sum them
        label = np.int32(rng.integers(0, C))
        g_ref = grad(params, ids, np.int32(length), label)
        for buckets in (None, (2, 5, TT)):
            g = fast(study_sgd._to_inner(params), ids, np.int32(length), label, buckets)
            g = study_sgd._to_params(g)
            for k in params:
                np.testing.assert_allclose(
                    g[k],
                    g_ref[k],
                    rtol=1e-10,
                    atol=1e-13,
                    err_msg=f"{k} L={length} buckets={buckets}",
                )


def test_length_buckets_minimise_padded_work():
    assert study_sgd.length_buckets(np.array([1, 2, 3, 4, 4, 5, 10, 0]), 10) == (2, 4, 5, 10)
    assert study_sgd.length_buckets(np.array([3, 3]), 3) == (3,)
    assert study_sgd.length_buckets(np.array([0, 0]), 4) == (4,)
    assert study_sgd.length_buckets(np.array([1, 9]), 9, k=2) == (1, 9)


def test_fast_loop_equals_generic_loop_float64(monkeypatch):
    # --eval-train: the fast path always scores the training split; so must the generic loop
    kw = dict(model="rnn", hidden=16, epochs=6, lr=0.3, seed=5, dtype="float64", eval_train=True)
    fast = T.fit(T.TrainConfig(loop="auto", **kw), log_every=3)
    built = []
    from jaxrnn.runs import build  # the classify task looks build_model up when it builds

    real_build_model = build.build_model

    def autodiff_model(*args, **kwargs):  # the generic loop differentiates with jax.grad
        model = dataclasses.replace(real_build_model(*args, **kwargs), impl="autodiff")
        built.append(model)
        return model

    monkeypatch.setattr(build, "build_model", autodiff_model)
    generic = T.fit(T.TrainConfig(loop="generic", **kw), log_every=3)
    assert built and all(m == StudyRNN(m.vocab_size, 16, 2, impl="autodiff") for m in built)
    assert T.uses_fast_loop(fast.config) and not T.uses_fast_loop(generic.config)
    for k in T.METRIC_NAMES:
        np.testing.assert_allclose(
            [h[k] for h in fast.history],
            [h[k] for h in generic.history],
            rtol=1e-10,
            atol=1e-12,
            err_msg=k,
        )
    for k in fast.params:
        np.testing.assert_allclose(fast.params[k], generic.params[k], rtol=1e-9, atol=1e-12)
    losses = [h["train_loss"] for h in fast.history]
    assert max(losses) - min(losses) > 0.01  # the weights move: equality is not trivial
