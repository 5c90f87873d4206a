"""No weight transpose left inside a recurrent loop (``cells.Transposed``, ``loop_params``,
``RecurrentLayer.step_params``, ``bptt``'s forward loops).

XLA:CPU keeps a ``w.T`` written in a loop body inside the loop and copies the transposed
matrix on every step: at batch 1 (sampling, a language model's test text read as one
stream) that copy was most of an LSTM step. These tests read the compiled programs: no
``transpose`` in any while-loop body (or what it calls), and the prepared params give the
numbers the plain ones give. Timings live in ``benchmarks/`` (``lm.py``'s generation
chars/s), not here.
"""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxrnn.nn import cells, lm
from jaxrnn.nn.cells import CellParams, Transposed, get_cell, loop_params
from jaxrnn.nn.sequence import RecurrentLayer, StepParams, _Options, gru, lstm, rnn


def loop_transposes(compiled_text: str) -> list[str]:
    """The ``transpose`` instructions of every while-loop body of an HLO module's text and of
    the computations those bodies call (fusions, nested loops)."""
    comps: dict[str, list[str]] = {}
    name = None
    for line in compiled_text.splitlines():
        head = re.match(r"^(?:ENTRY )?%?([\w.\-]+) .*\{$", line)
        if head and not line.startswith(" "):
            name = head.group(1)
            comps[name] = []
        elif name is not None:
            comps[name].append(line)
    todo, seen = re.findall(r"body=%?([\w.\-]+)", compiled_text), set()
    assert todo, "no while loop in the program"
    while todo:
        c = todo.pop()
        if c in seen or c not in comps:
            continue
        seen.add(c)
        for line in comps[c]:
            todo += re.findall(r"(?:calls|to_apply|body|condition)=%?([\w.\-]+)", line)
    return [line.strip() for c in seen for line in comps[c] if " transpose(" in line]


def test_the_checker_sees_a_transpose_written_in_a_loop():
    """The checker itself: ``h @ w.T`` inside the body (the code before this fix) is found."""
    w = jnp.ones((16, 8))

    def run(w, xs):
        body = lambda h, x: (jnp.tanh(x + h @ w.T)[:, :8], None)  # noqa: E731
        return jax.lax.scan(body, jnp.zeros((1, 8)), xs)[0]

    text = jax.jit(run).lower(w, jnp.ones((5, 1, 16))).compile().as_text()
    assert loop_transposes(text)


@pytest.mark.parametrize("impl", ["custom_vjp", "autodiff"])
@pytest.mark.parametrize("make", [lstm, gru, rnn])
def test_no_transpose_in_a_layers_loop(make, impl):
    layer = make(8, impl=impl)
    p = layer.init(jax.random.key(0), 4)
    x = jnp.ones((1, 5, 4))
    text = jax.jit(lambda p, x: layer.apply(p, x)[0]).lower(p, x).compile().as_text()
    assert loop_transposes(text) == []


def test_no_transpose_in_the_samplers_loop():
    model = lm.LanguageModel(lstm(8), 11, 4)
    params = jax.tree.map(jnp.asarray, model.init_numpy(0, np.float32))
    prime = jnp.ones((1, 2), jnp.int32)
    text = lm._sample.lower(model, params, prime, jax.random.key(0), jnp.float32(1.0), 6,
                            0).compile().as_text()  # fmt: skip
    assert loop_transposes(text) == []


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("make", [lstm, gru])
def test_step_params_give_the_plain_params_numbers(make, precision):
    """A stacked layer's and a language model's step: prepared params (``step_params``) and
    plain ones give the same bits, mixed precision included."""
    base = make(6, num_layers=2)
    layer = RecurrentLayer(base.cell, 6, 2, _options=_Options(precision=precision))
    model = lm.LanguageModel(layer, 9, 5)
    params = jax.tree.map(jnp.asarray, model.init_numpy(1, np.float32))
    prepared = model.step_params(params)
    assert isinstance(prepared["rnn"], StepParams) and isinstance(prepared["w_out"], Transposed)
    state = model.zero_state(3)
    ids = jnp.array([1, 4, 8])
    for _ in range(3):
        plain, s1 = model.step(params, state, ids)
        fast, s2 = model.step(prepared, state, ids)
        np.testing.assert_array_equal(fast, plain)
        jax.tree.map(np.testing.assert_array_equal, s2, s1)
        state, ids = s1, jnp.argmax(plain, -1)


def test_sampling_with_an_embedding_free_model_draws_the_plain_steps_tokens():
    """min-char-rnn's model (one-hot inputs, no embedding): ``lm.sample`` (prepared params)
    draws what a loop of plain-params steps draws from the same keys."""
    model = lm.LanguageModel(rnn(7), 10, None)
    params = jax.tree.map(jnp.asarray, model.init_numpy(2, np.float32))
    got = lm.sample(model, params, [3], 12, seed=5)
    keys = jax.random.split(jax.random.key(5), 12)
    state, tok, want = model.zero_state(1), jnp.array([3], jnp.int32), []
    for k in keys:
        logits, state = model.step(params, state, tok)
        tok = jax.random.categorical(k, logits, axis=-1).astype(jnp.int32)
        want.append(int(tok[0]))
    assert got.tolist() == [want]


def test_loop_params_only_for_cells_that_read_the_transposes():
    p = CellParams(jnp.ones((8, 3)), jnp.arange(16.0).reshape(8, 2), None, None)
    assert all(get_cell(c).reads_transposed for c in ("rnn", "rnn_relu", "lstm", "gru"))
    t = loop_params(get_cell("lstm"), p)
    np.testing.assert_array_equal(t.w_hh.T, p.w_hh.T)
    np.testing.assert_array_equal(t.w_ih.T, p.w_ih.T)
    other = cells.Cell("other", 4, cells.lstm_step)  # a registered cell's default: unchanged
    assert loop_params(other, p) is p
