"""Sequence layers: masked ``lax.scan`` unrolling, reversal, bidirectional, stacking.

The public layer factories (``rnn``, ``lstm``, ``gru``) return a
``RecurrentLayer`` with two pure functions, optax-style::

    layer = jaxrnn.lstm(128, num_layers=2, bidirectional=True, dropout=0.1)
    params = layer.init(key, input_size)                      # pytree
    outputs, final = layer.apply(params, x, lengths, key=dropout_key)
    # x [B, T, D] -> outputs [B, T, num_directions * H]
    # final: h [L * num_directions, B, H] (LSTMState(h, c) for LSTM), PyTorch's order:
    #        layer 0 forward, layer 0 backward, layer 1 forward, ...

Masking by ``lengths [B]`` (None: every sequence is full length):

* past a sequence's end the carry is frozen, so the final state is the state
  after its last valid step, and the outputs there are zero;
* the backward direction reverses only the valid part of each sequence
  (``reverse_padded``), so it starts on the last real token, never on padding;
* layers are stacked with dropout between them (not after the last), applied
  only when a ``key`` is passed (training).

Two implementations give the same numbers (``impl=``):

* ``"custom_vjp"`` (default; ``"bptt"`` is accepted for it): ``jaxrnn.nn.bptt``'s
  hand-written backward pass as a ``jax.custom_vjp`` (reverse scan carrying only
  ``dh``/``dc``, weight and input gradients as single large matmuls after the loop),
  run time-major through the whole stack. Faster on CPU; see ``benchmarks/vs_peers.py``.
* ``"autodiff"``: ``jax.grad`` of the plain masked ``lax.scan`` (the reference the
  tests check the other against).

The cell is a name in the registry (``jaxrnn.nn.cells``); the layer runs the registered
``Cell``'s step and, for ``"custom_vjp"``, its hand-written VJP pieces. A cell registered
without them (``Cell.vjp`` None) is differentiated with autodiff whatever ``impl`` says:
``impl="custom_vjp"`` falls back to ``"autodiff"`` for it (``RecurrentLayer.backward``
says which runs); it never runs another cell's code.

``params`` is a tuple over layers of tuples over directions of ``CellParams``.

Parallel cells (a ``Cell`` with a ``parallel`` form: minGRU, minLSTM, LRU, registered by
``jaxrnn.nn.parallel_cells``; ``--model mingru|minlstm|lru``): their gates read the input
only, so each layer and direction runs as one linear scan over time (``LayerForm.run``, the
cell's parallel ``apply``; the backward direction with ``reverse=True``), batch-major, with
the same stacking, masking (outputs past the end zero, the final carry the state after the
last step taken), direction order and dropout between layers as above, differentiated by
autodiff. ``scan="sequential"`` (``_Options.scan``; the factories' ``scan=``) runs the same
cells as a ``lax.scan`` of their step, the same numbers (streaming, and the reference). Their
params are the cells' own NamedTuples (``jaxrnn.weights.parallel_init``), drawn by ``init``
with the cells' NumPy initialisers from a seed drawn from the key (a ``pure_callback``, so
``init`` traces; ``bias`` must be True).
The LRU layer maps ``D`` to ``H`` (state ``N = H``, see ``LayerForm``) and its final state is
``LRUState(h, x)``: ``h`` the real output at the last step taken (what a readout reads, as
``LSTMState.h``), ``x`` the complex state.
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from jaxrnn.nn import bptt
from jaxrnn.nn._blocks import BF16, mixed_dense, mm
from jaxrnn.nn._vma import sum_to_primal_type, vary_like
from jaxrnn.nn.cells import (
    CELLS,
    Carry,
    CellParams,
    Transposed,
    get_cell,
    init_cell_params,
    loop_params,
    project_inputs,
)

Array = jax.Array
LayerParams = tuple[tuple[CellParams, ...], ...]


class StepParams(NamedTuple):
    """A layer's params prepared for a loop of ``RecurrentLayer.step`` calls
    (``RecurrentLayer.step_params``): per layer and direction, as the step reads them."""

    layers: tuple[tuple[Any, ...], ...]

IMPLS = ("custom_vjp", "autodiff")
# Earlier name of "custom_vjp", still accepted.
_ALIASES = {"bptt": "custom_vjp"}
SCANS = ("parallel", "sequential")  # how a parallel cell runs over time (_Options.scan)
PRECISIONS = ("float32", "bfloat16")  # the matmuls' operands (_Options.precision)
DEFAULT_IMPL = "custom_vjp"  # measured faster on CPU at every benchmarked shape (vs_peers.py)


def _check_impl(impl: str) -> str:
    """The canonical name of ``impl`` (``"bptt"`` is ``"custom_vjp"``); ValueError if unknown."""
    impl = _ALIASES.get(impl, impl)
    if impl not in IMPLS:
        raise ValueError(f"impl must be one of {IMPLS}, got {impl!r}")
    return impl


def time_mask(lengths: Array, max_len: int) -> Array:
    """``[B]`` lengths -> ``[B, T]`` bool mask, True on valid steps."""
    return jnp.arange(max_len)[None, :] < lengths[:, None]


def reverse_padded(x: Array, lengths: Array | None, time_axis: int = 1) -> Array:
    """Reverse each sequence of ``x`` within its valid length, along ``time_axis``.

    ``x`` is ``[B, T, ...]`` (``time_axis=1``) or time-major ``[T, B, ...]`` (``0``).
    ``[a, b, c, pad, pad]`` with length 3 becomes ``[c, b, a, pad, pad]``. Applying
    it twice gives back ``x``. With ``lengths=None`` it is a plain flip of the time axis.
    """
    if lengths is None:
        return jnp.flip(x, axis=time_axis)
    return _reverse_padded(x, lengths, time_axis)


@partial(jax.custom_vjp, nondiff_argnums=(2,))
def _reverse_padded(x: Array, lengths: Array, time_axis: int) -> Array:
    """``reverse_padded`` with lengths. A permutation, so its VJP is itself (a gather): the
    VJP of the gather autodiff would take is a scatter-add, which on XLA:CPU cost a 3x128
    BiLSTM's training step at 100 padded steps about a sixth of its time."""
    t = jnp.arange(x.shape[time_axis])
    t, n = (t[None, :], lengths[:, None]) if time_axis == 1 else (t[:, None], lengths[None, :])
    src = jnp.where(t < n, n - 1 - t, t)  # [B, T] or [T, B]
    src = src.reshape(src.shape + (1,) * (x.ndim - 2))
    return jnp.take_along_axis(x, src, axis=time_axis)


def _reverse_fwd(x: Array, lengths: Array, time_axis: int) -> tuple[Array, tuple]:
    # An empty slice of x keeps its shard_map type (the mesh axes it varies over) for bwd.
    return _reverse_padded(x, lengths, time_axis), (lengths, x.reshape(-1)[:0])


def _reverse_bwd(time_axis: int, res: tuple, g: Array) -> tuple[Array, None]:
    lengths, x_type = res
    # Inside shard_map an input that does not vary over the mesh (the LRU's lambda, from the
    # weights only) gets the sum of the shards' gradients, of its own type.
    return sum_to_primal_type(_reverse_padded(g, lengths, time_axis), x_type), None


_reverse_padded.defvjp(_reverse_fwd, _reverse_bwd)


def _scan_tm(
    cell: str,
    params: CellParams,
    xs: Array,
    lengths: Array | None,
    carry: Carry,
    use_scan: bool = True,
    unroll_steps: int = 1,
) -> tuple[Array, Carry]:
    """The plain masked scan (what ``jax.grad`` differentiates) over time-major projected
    inputs ``xs [T, B, G*H]``: ``(outputs [T, B, H], final carry)``."""
    registered = get_cell(cell)
    step = registered.step
    params = loop_params(registered, params)  # w.T made here, not on every step
    if lengths is None:

        def body(c, x):
            return step(params, c, x)

        inputs: Any = xs
    else:
        mask = jnp.swapaxes(time_mask(lengths, xs.shape[0]), 0, 1)[..., None]  # [T, B, 1]

        def body(c, inp):
            x, m = inp
            new, h = step(params, c, x)
            c = jax.tree.map(lambda n, o: jnp.where(m, n, o), new, c)
            return c, jnp.where(m, h, jnp.zeros_like(h))

        inputs = (xs, mask)

    if use_scan:
        carry = vary_like(carry, params, inputs)  # inside shard_map (see jaxrnn.nn._vma)
        return lax.scan(body, carry, inputs, unroll=unroll_steps)[::-1]
    outs = []
    for t in range(xs.shape[0]):
        carry, y = body(carry, jax.tree.map(lambda a, t=t: a[t], inputs))
        outs.append(y)
    return jnp.stack(outs), carry


def unroll(
    cell: str,
    params: CellParams,
    xp: Array,
    lengths: Array | None,
    carry: Carry,
    *,
    use_scan: bool = True,
    unroll_steps: int = 1,
    impl: str = DEFAULT_IMPL,
) -> tuple[Array, Carry]:
    """Run one cell over projected inputs ``xp [B, T, G*H]`` (see ``project_inputs``).

    Returns ``(outputs [B, T, H], final_carry)``. With ``lengths``, the carry is
    frozen past each sequence's end and outputs there are zero. ``use_scan=False``
    runs the same body in a Python loop (a check on the scan, and for debugging).
    ``impl="custom_vjp"`` differentiates with ``jaxrnn.nn.bptt``'s hand-written VJP,
    ``"autodiff"`` with ``jax.grad`` of the scan; same numbers (``params.w_ih`` and
    ``params.b_ih`` are not used: they are already in ``xp``). A cell without a hand-written
    VJP runs with autodiff whatever ``impl`` says.
    """
    impl = _check_impl(impl)
    if get_cell(cell).parallel is not None:
        raise ValueError(f"unroll runs a recurrent cell over projected inputs: {cell!r} is a "
                         "parallel cell (run it with RecurrentLayer)")  # fmt: skip
    if impl == "custom_vjp" and use_scan and get_cell(cell).vjp is not None:
        return bptt.scan_projected(
            cell, params.w_hh, params.b_hh, xp, lengths, carry, unroll=unroll_steps
        )
    ys, carry = _scan_tm(cell, params, jnp.swapaxes(xp, 0, 1), lengths, carry, use_scan,
                         unroll_steps)  # fmt: skip
    return jnp.swapaxes(ys, 0, 1), carry


def dropout(key: Array, x: Array, rate: float, time_major: bool = False) -> Array:
    """Inverted dropout of ``x`` (``[B, ...]``, or ``[T, B, ...]`` when ``time_major``): keep
    each entry with probability ``1 - rate`` and scale it by ``1 / (1 - rate)``. The mask
    is drawn batch-major in both layouts, so both give the same numbers for one key."""
    shape = (x.shape[1], x.shape[0], *x.shape[2:]) if time_major else x.shape
    keep = jax.random.bernoulli(key, 1.0 - rate, shape)
    if time_major:
        keep = jnp.swapaxes(keep, 0, 1)
    return jnp.where(keep, x / (1.0 - rate), jnp.zeros_like(x))


class _Options(NamedTuple):
    """Speed knobs of a ``RecurrentLayer`` (same numbers whatever they are; benchmarks set
    them): ``stack_directions`` runs both directions of a bidirectional custom-VJP layer
    in one loop, vmapped over the direction (batched matmuls), instead of two loops;
    ``chunk`` > 0 runs the custom-VJP loops in chunks of that many steps, only as many as
    the batch's longest sequence needs (``jaxrnn.nn.bptt.layer``; what length buckets use)."""

    stack_directions: bool = False
    chunk: int = 0
    scan: str = "parallel"  # parallel cells: "parallel" (linear scan) or "sequential" (lax.scan)
    # "bfloat16": mixed precision for the recurrent cells (rnn, lstm, gru): the layer's weight
    # matrices are cast to bfloat16 inside ``apply``/``step`` (parameters stay float32), so
    # every input, recurrent and weight-gradient matmul takes bfloat16 operands with float32
    # accumulation (``jaxrnn.nn._blocks.mm``); gates, carries and biases stay float32.
    precision: str = "float32"
    # ``apply_ids``: the first layer's input projection as rows of ``embed @ w_ih.T + b_ih``
    # where that pays (``bptt.lookup_pays``); False: embed the ids, then ``apply``
    lookup: bool = True


def _check_inputs(x: Array, lengths: Array | None, empty_ok: bool = True) -> None:
    """What ``apply`` needs of its inputs, said in one line (at trace time) rather than as a
    ``TypeError`` from inside a scan: ``x`` floating ``[B, T, D]`` (``T >= 1`` unless
    ``empty_ok``: the recurrent cells run zero steps, the parallel scans need one),
    ``lengths`` integer ``[B]``."""
    shape = tuple(np.shape(x))
    if len(shape) != 3 or (shape[1] < 1 and not empty_ok):
        at_least = "" if empty_ok else " with T >= 1"
        raise ValueError(f"x must be [B, T, D]{at_least}, got shape {shape}")
    if not jnp.issubdtype(jnp.result_type(x), jnp.floating):
        raise ValueError(f"x must be floating point (embed token ids first), got "
                         f"{jnp.result_type(x)}")  # fmt: skip
    if lengths is not None:
        ls = tuple(np.shape(lengths))
        if ls != shape[:1] or not jnp.issubdtype(jnp.result_type(lengths), jnp.integer):
            raise ValueError(f"lengths must be integers [B] = {shape[:1]}, got shape {ls} of "
                             f"{jnp.result_type(lengths)}")  # fmt: skip


@dataclass(frozen=True)
class RecurrentLayer:
    """A (possibly stacked, possibly bidirectional) recurrent layer. Use the factories.

    Hashable, so it can be a static argument of ``jax.jit``. ``impl`` picks the
    backward pass (``"custom_vjp"``: ``jaxrnn.nn.bptt``'s hand-written one, ``"autodiff"``:
    ``jax.grad`` of the plain scan); both give the same numbers. ``"bptt"`` is accepted
    for ``"custom_vjp"``. ``cell`` is a registered cell (``jaxrnn.nn.cells``); one without a
    hand-written VJP runs with autodiff under either ``impl`` (``backward`` says which).
    """

    cell: str
    hidden_size: int
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    bias: bool = True
    impl: str = DEFAULT_IMPL
    _options: _Options = _Options()
    # a parallel cell inside its paper's residual block (``parallel_cells.BlockForm``): norm,
    # cell, projection and skip, then (minGRU/minLSTM) norm, MLP of ``block_ff * H`` and skip
    block: bool = False
    block_ff: int = 4

    def __post_init__(self) -> None:
        object.__setattr__(self, "impl", _check_impl(self.impl))
        for name in ("hidden_size", "num_layers", "block_ff"):  # else an MLIR error, or a
            v = getattr(self, name)  # layer of width 0 that runs
            if isinstance(v, bool) or not isinstance(v, numbers.Integral) or v < 1:
                raise ValueError(f"{name} must be a positive integer, got {v!r}")
        for name in ("bidirectional", "bias", "block"):  # "no" would be true
            if not isinstance(getattr(self, name), bool | np.bool_):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        d = self.dropout  # a traced rate (the sweep's) is checked by its caller
        if isinstance(d, numbers.Real) and not 0 <= d < 1:
            raise ValueError(f"dropout must be in [0, 1), got {d!r}")
        if self.block and CELLS.get(self.cell) is not None and CELLS[self.cell].parallel is None:
            raise ValueError(f"block=True wraps a parallel cell (minGRU, minLSTM, LRU) in its "
                             f"paper's residual block; {self.cell!r} is a recurrent cell")
        if self._options.scan not in SCANS:
            raise ValueError(f"scan must be one of {SCANS}, got {self._options.scan!r}")
        if self._options.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, "
                             f"got {self._options.precision!r}")  # fmt: skip
        if self.parallel is not None and not self.bias:
            raise ValueError(f"cell {self.cell!r} always has its biases: bias must be True")

    @property
    def parallel(self) -> Any:
        """The cell's parallel form (``Cell.parallel``), None for a recurrent cell (or a name
        not registered yet: the layer's functions then name the registered cells)."""
        cell = CELLS.get(self.cell)
        form = None if cell is None else cell.parallel
        if form is not None and self.block:
            from jaxrnn.nn.parallel_cells import BlockForm

            return BlockForm(form, self.block_ff)
        return form

    @property
    def backward(self) -> str:
        """The backward pass that runs: ``"custom_vjp"``, or ``"autodiff"`` (asked for, or the
        cell has no hand-written VJP)."""
        if self.impl == "custom_vjp" and get_cell(self.cell).vjp is not None:
            return "custom_vjp"
        return "autodiff"

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def output_size(self) -> int:
        return self.num_directions * self.hidden_size

    def init(self, key: Array, input_size: int, dtype=jnp.float32) -> LayerParams:
        """Params: a tuple over layers of tuples over directions of ``CellParams`` (a parallel
        cell: its NamedTuple, drawn with NumPy from a seed taken from ``key``)."""
        if self.parallel is not None:
            return self._init_parallel(key, input_size, dtype)
        keys = jax.random.split(key, self.num_layers * self.num_directions)
        layers = []
        for layer in range(self.num_layers):
            d_in = input_size if layer == 0 else self.output_size
            layers.append(
                tuple(
                    init_cell_params(
                        keys[layer * self.num_directions + d],
                        self.cell,
                        d_in,
                        self.hidden_size,
                        self.bias,
                        dtype,
                    )
                    for d in range(self.num_directions)
                )
            )
        return tuple(layers)

    def _init_parallel(self, key: Array, input_size: int, dtype) -> LayerParams:
        """A parallel cell's params from its NumPy initialiser, seeded by 32 bits drawn from
        ``key``; a ``pure_callback``, so ``init`` still traces (``jit``, ``eval_shape``)."""
        template = self.init_numpy(np.random.default_rng(0), input_size)  # the structure
        leaves, treedef = jax.tree.flatten(template)
        shapes = [jax.ShapeDtypeStruct(a.shape, dtype) for a in leaves]

        def draw(seed):
            p = self.init_numpy(np.random.default_rng(int(seed)), input_size)
            return [np.asarray(a, dtype) for a in jax.tree.leaves(p)]

        seed = jax.random.bits(key, (), jnp.uint32)
        drawn = jax.pure_callback(draw, shapes, seed, vmap_method="sequential")
        return jax.tree.unflatten(treedef, drawn)

    def _check_width(self, params: LayerParams, x: Array) -> None:
        """``x``'s width ``D`` against the params' (at trace time), said in one line rather
        than as a ``dot_general`` error from inside a scan. The first 2-D weight of the first
        layer reads the inputs (``[G*H, D]`` or ``[H, D]`` in every cell here); where it does
        not show ``D``, the params are compared with ``init``'s shapes before anything is
        said, so a cell laid out otherwise is never refused wrongly."""
        d = np.shape(x)[-1]
        mats = [a for a in jax.tree.leaves(params[0]) if np.ndim(a) == 2]
        have = np.shape(mats[0])[-1] if mats else d
        if have == d:
            return
        want = jax.eval_shape(lambda: self.init(jax.random.key(0), d, jnp.result_type(x)))
        if [np.shape(a) for a in jax.tree.leaves(want)] == [np.shape(a) for a in
                                                           jax.tree.leaves(params)]:  # fmt: skip
            return
        raise ValueError(f"x has {d} features per step (D), but the params were made for "
                         f"{have} (init(key, {have}))")

    def init_numpy(self, rng: np.random.Generator, input_size: int) -> tuple:
        """A parallel cell's params drawn with NumPy from ``rng``, layer by layer, direction by
        direction (float64; ``jaxrnn.weights.init.keras_params`` draws the same; residual
        blocks: ``parallel_init.residual_layers``, the NumPy backend's draw too)."""
        if self.block:
            from jaxrnn.weights.parallel_init import residual_layers

            return residual_layers(rng, self.cell, input_size, self.hidden_size, self.num_layers,
                                   self.num_directions, self.block_ff)  # fmt: skip
        form = self.parallel  # LayerForm.init: parallel_init.layer_params
        return tuple(
            tuple(form.init(rng, input_size if i == 0 else self.output_size, self.hidden_size)
                  for _ in range(self.num_directions))
            for i in range(self.num_layers)
        )  # fmt: skip

    def zero_state(self, batch_size: int, dtype=jnp.float32) -> Carry:
        """Zero initial state ``[L * num_directions, B, H]`` (``LSTMState`` for LSTM)."""
        n = self.num_layers * self.num_directions
        return get_cell(self.cell).zero_carry((n, batch_size), self.hidden_size, dtype)

    def apply(
        self,
        params: LayerParams,
        x: Array,
        lengths: Array | None = None,
        *,
        key: Array | None = None,
        initial_state: Carry | None = None,
        use_scan: bool = True,
    ) -> tuple[Array, Carry]:
        """Run the stack over ``x [B, T, D]``.

        Args:
          params: from ``init``.
          x: batch-major inputs ``[B, T, D]``.
          lengths: ``[B]`` valid lengths, or None for all ``T``.
          key: PRNG key for dropout between layers; None disables dropout.
          initial_state: ``[L * num_directions, B, H]`` (``LSTMState`` for LSTM),
            zeros if None.
          use_scan: False unrolls in a Python loop (same numbers; for tests).

        Returns:
          ``(outputs [B, T, num_directions * H], final_state)``, final state shaped
          like ``initial_state``.

        The stack runs time-major (``[T, B, .]``) from the first layer to the last.
        """
        _check_inputs(x, lengths, empty_ok=self.parallel is None)
        self._check_width(params, x)
        if initial_state is None:
            initial_state = self.zero_state(x.shape[0], x.dtype)
        params = self.compute_params(params)
        if self.parallel is not None:
            return self._apply_parallel(params, x, lengths, key, initial_state, use_scan)
        return self._stack(params, jnp.swapaxes(x, 0, 1), lengths, key, initial_state,
                           use_scan)  # fmt: skip

    def apply_ids(
        self,
        params: LayerParams,
        embed: Array,
        ids: Array,
        lengths: Array | None = None,
        *,
        key: Array | None = None,
        initial_state: Carry | None = None,
        use_scan: bool = True,
    ) -> tuple[Array, Carry]:
        """``apply(params, embed[ids], lengths, ...)`` for token ids ``ids [B, T]`` and an
        embedding table ``embed [V, D]``; the same numbers up to rounding.

        Where it pays (``jaxrnn.nn.bptt.lookup_pays``: a one-direction first layer with the
        hand-written VJP, no ``chunk``, a vocabulary of at most ``B * T`` types, ``B < 64``),
        the first layer does not project every token: ``embed @ w_ih.T + b_ih`` is made
        once, ``[V, G*H]``, each step reads its tokens' rows, and the backward loop adds
        each step's gate gradients into the table's gradient (``bptt.layer_lookup``). The
        char LM (V 40, 16 streams of 64 a device, H 256) skips three ``[1024, 32]``-sized
        products a step: bfloat16 training 1.047x as fast (23 of 23 alternating passes).
        Otherwise: ``apply`` on the embedded ids.
        """
        shape = tuple(np.shape(ids))
        if len(shape) != 2 or not jnp.issubdtype(jnp.result_type(ids), jnp.integer):
            raise ValueError(f"ids must be integer token ids [B, T], got shape {shape} of "
                             f"{jnp.result_type(ids)}")  # fmt: skip
        vocab = np.shape(embed)[0]
        first = params[0] if self.parallel is None else ()
        if not (self._options.lookup and use_scan and self.backward == "custom_vjp"
                and len(first) == 1 and not self._options.chunk
                and bptt.lookup_pays(vocab, *shape)):  # fmt: skip
            return self.apply(params, embed[ids], lengths, key=key,
                              initial_state=initial_state, use_scan=use_scan)  # fmt: skip
        x = jax.ShapeDtypeStruct((*shape, np.shape(embed)[-1]), jnp.result_type(embed))
        _check_inputs(x, lengths)
        self._check_width(params, x)
        if initial_state is None:
            initial_state = self.zero_state(shape[0], x.dtype)
        params = self.compute_params(params)
        return self._stack(params, None, lengths, key, initial_state, use_scan,
                           (embed, jnp.swapaxes(ids, 0, 1)))  # fmt: skip

    def _stack(self, params: LayerParams, xt: Array | None, lengths: Array | None,
               key: Array | None, initial_state: Carry, use_scan: bool,
               lookup: tuple[Array, Array] | None = None) -> tuple[Array, Carry]:  # fmt: skip
        """The recurrent layers over time-major ``xt [T, B, D]``, first to last (``apply``).
        ``lookup = (embed [V, D], ids [T, B])``: the first layer's inputs are ``embed[ids]``,
        projected by table lookup (``apply_ids``; ``xt`` unused)."""
        finals = []
        for layer, layer_params in enumerate(params):
            nd = len(layer_params)
            idx = slice(layer * nd, (layer + 1) * nd)
            carry0 = jax.tree.map(lambda s, idx=idx: s[idx], initial_state)  # [dirs, B, H]
            if layer == 0 and lookup is not None:  # one direction (apply_ids)
                c = jax.tree.map(lambda a: a[0], carry0)
                results = [bptt.layer_lookup(self.cell, layer_params[0], *lookup, lengths, c)]
            else:
                inps = [xt] if nd == 1 else [xt, reverse_padded(xt, lengths, time_axis=0)]
                results = self._directions(layer_params, inps, lengths, carry0, use_scan)
            outs = []
            for d, (ys, carry) in enumerate(results):
                outs.append(ys if d == 0 else reverse_padded(ys, lengths, time_axis=0))
                finals.append(carry)
            xt = outs[0] if len(outs) == 1 else jnp.concatenate(outs, axis=-1)
            if key is not None and self.dropout > 0.0 and layer < self.num_layers - 1:
                key, sub = jax.random.split(key)
                xt = dropout(sub, xt, self.dropout, time_major=True)
        final = jax.tree.map(lambda *s: jnp.stack(s), *finals)
        return jnp.swapaxes(xt, 0, 1), final

    def compute_params(self, params: LayerParams) -> LayerParams:
        """``params`` as the matmuls take them: with ``precision="bfloat16"`` the recurrent
        cells' weight matrices in bfloat16 (biases float32), else unchanged. Parallel cells
        always compute in their parameters' dtype."""
        if self._options.precision == "float32" or self.parallel is not None:
            return params
        return tuple(tuple(p._replace(w_ih=p.w_ih.astype(BF16), w_hh=p.w_hh.astype(BF16))
                           for p in layer) for layer in params)  # fmt: skip

    def dense(self, x: Array, w: Array, b: Array) -> Array:
        """A readout of this layer's outputs, ``x [.., F] @ w.T + b`` for ``w [K, F]`` (or a
        ``cells.Transposed`` of it), in the layer's precision (bfloat16 operands, float32
        accumulation and result)."""
        if self._options.precision == "float32":
            return x @ w.T + b  # w may be a cells.Transposed (made before a loop)
        if isinstance(w, Transposed):  # a loop's step (sampling): nothing to train
            return mm(x, w.T.astype(BF16)) + b
        return mixed_dense(x, w) + b

    def _apply_parallel(
        self,
        params: LayerParams,
        x: Array,
        lengths: Array | None,
        key: Array | None,
        initial_state: Carry,
        use_scan: bool,
    ) -> tuple[Array, Carry]:
        """``apply`` for a parallel cell, batch-major (module docstring)."""
        form = self.parallel
        sequential = self._options.scan == "sequential" or not use_scan
        finals = []
        for layer, layer_params in enumerate(params):
            nd = len(layer_params)
            outs = []
            for d, p in enumerate(layer_params):
                carry0 = jax.tree.map(lambda s, i=layer * nd + d: s[i], initial_state)
                ys, carry = form.run(p, x, lengths, d == 1, carry0, sequential)
                outs.append(ys)
                finals.append(carry)
            x = outs[0] if nd == 1 else jnp.concatenate(outs, axis=-1)
            if key is not None and self.dropout > 0.0 and layer < self.num_layers - 1:
                key, sub = jax.random.split(key)
                x = dropout(sub, x, self.dropout)
        return x, jax.tree.map(lambda *s: jnp.stack(s), *finals)

    def step_params(self, params: LayerParams) -> StepParams:
        """``params`` as ``step`` reads them, prepared once before a loop of steps (sampling):
        ``compute_params``, then the weight matrices transposed (``cells.loop_params``), so
        the loop body does no transpose. Same numbers as passing ``params`` itself."""
        cell = get_cell(self.cell)
        return StepParams(tuple(tuple(loop_params(cell, p) for p in layer)
                                for layer in self.compute_params(params)))  # fmt: skip

    def step(self, params: LayerParams | StepParams, state: Carry, x: Array
             ) -> tuple[Carry, Array]:  # fmt: skip
        """One time step of a unidirectional stack (streaming, sampling): ``x [B, D]``,
        ``state [L, B, H]`` -> ``(state, y [B, H])``, the cells' step functions directly.
        ``params``: the layer's, or ``step_params(params)`` (what a loop of steps should
        pass: prepared outside it)."""
        if self.bidirectional:
            raise ValueError("step runs a unidirectional layer (a bidirectional one reads the "
                             "whole sequence)")  # fmt: skip
        cell = get_cell(self.cell)
        if not isinstance(params, StepParams):
            params = self.step_params(params)
        form = self.parallel  # a parallel cell's step (in its block, with block=True)
        new = []
        for i, (p,) in enumerate(params.layers):
            carry = jax.tree.map(lambda s, i=i: s[i], state)
            carry, x = form.step(p, carry, x) if form is not None else cell.step(
                p, carry, project_inputs(p, x))  # fmt: skip
            new.append(carry)
        return jax.tree.map(lambda *s: jnp.stack(s), *new), x

    def _directions(
        self,
        layer_params: tuple[CellParams, ...],
        inps: list[Array],
        lengths: Array | None,
        carry0: Carry,
        use_scan: bool,
    ) -> list[tuple[Array, Carry]]:
        """One layer's directions over time-major inputs: ``[(outputs [T, B, H], carry)]``."""
        cell = self.cell

        def carry(d):
            return jax.tree.map(lambda a: a[d], carry0)

        if self.backward == "autodiff" or not use_scan:
            return [
                _scan_tm(self.cell, p, project_inputs(p, inp), lengths, carry(d), use_scan)
                for d, (p, inp) in enumerate(zip(layer_params, inps, strict=True))
            ]
        chunk = self._options.chunk
        if self._options.stack_directions and len(layer_params) == 2:
            stacked = jax.tree.map(lambda *a: jnp.stack(a), *layer_params)

            def run(p, x, c):
                return bptt.layer(cell, p, x, lengths, c, chunk=chunk, time_major=True)

            ys2, c2 = jax.vmap(run)(stacked, jnp.stack(inps), carry0)
            return [(ys2[d], jax.tree.map(lambda a, d=d: a[d], c2)) for d in range(2)]
        return [
            bptt.layer(cell, p, inp, lengths, carry(d), chunk=chunk, time_major=True)
            for d, (p, inp) in enumerate(zip(layer_params, inps, strict=True))
        ]


def rnn(
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    nonlinearity: str = "tanh",
    bias: bool = True,
    impl: str = DEFAULT_IMPL,
) -> RecurrentLayer:
    """An Elman RNN layer (``h' = tanh(W_ih x + b_ih + W_hh h + b_hh)``)."""
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
    cell = "rnn" if nonlinearity == "tanh" else "rnn_relu"
    return RecurrentLayer(cell, hidden_size, num_layers, bidirectional, dropout, bias, impl)


def lstm(
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    bias: bool = True,
    impl: str = DEFAULT_IMPL,
) -> RecurrentLayer:
    """An LSTM layer (gates i, f, g, o; see ``jaxrnn.nn.cells``)."""
    return RecurrentLayer("lstm", hidden_size, num_layers, bidirectional, dropout, bias, impl)


def gru(
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    dropout: float = 0.0,
    bias: bool = True,
    impl: str = DEFAULT_IMPL,
) -> RecurrentLayer:
    """A GRU layer (gates r, z, n, PyTorch convention; see ``jaxrnn.nn.cells``)."""
    return RecurrentLayer("gru", hidden_size, num_layers, bidirectional, dropout, bias, impl)


def _parallel_layer(cell: str, hidden_size: int, num_layers: int, bidirectional: bool,
                    dropout: float, scan: str, block: bool, block_ff: int
                    ) -> RecurrentLayer:  # fmt: skip
    return RecurrentLayer(cell, hidden_size, num_layers, bidirectional, dropout,
                          _options=_Options(scan=scan), block=block,
                          block_ff=block_ff)  # fmt: skip


def mingru(hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
           dropout: float = 0.0, scan: str = "parallel", block: bool = False,
           block_ff: int = 4) -> RecurrentLayer:  # fmt: skip
    """A minGRU layer (Feng et al. 2024; ``jaxrnn.nn.parallel_cells``), run in parallel over
    time (``scan="sequential"``: ``lax.scan`` of its step, the same numbers). ``block=True``:
    each layer in the paper's residual block, its MLP ``block_ff * hidden_size`` wide
    (``parallel_cells.BlockForm``; the same for ``minlstm`` and ``lru``)."""
    return _parallel_layer("mingru", hidden_size, num_layers, bidirectional, dropout, scan,
                           block, block_ff)


def minlstm(hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
            dropout: float = 0.0, scan: str = "parallel", block: bool = False,
            block_ff: int = 4) -> RecurrentLayer:  # fmt: skip
    """A minLSTM layer (Feng et al. 2024, normalised gates; ``jaxrnn.nn.parallel_cells``)."""
    return _parallel_layer("minlstm", hidden_size, num_layers, bidirectional, dropout, scan,
                           block, block_ff)


def lru(hidden_size: int, num_layers: int = 1, bidirectional: bool = False,
        dropout: float = 0.0, scan: str = "parallel", block: bool = False,
        block_ff: int = 4) -> RecurrentLayer:  # fmt: skip
    """An LRU layer (Orvieto et al. 2023; state size and output width ``hidden_size``, see
    ``jaxrnn.nn.parallel_cells.LayerForm``)."""
    return _parallel_layer("lru", hidden_size, num_layers, bidirectional, dropout, scan,
                           block, block_ff)
