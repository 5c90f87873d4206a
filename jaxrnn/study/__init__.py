"""The study, done properly: ``python -m jaxrnn.study`` (see ``jaxrnn.cli.study``).

* ``jaxrnn.study.compare``: every model over many seeds on the bundled data.
* ``jaxrnn.study.gradients``: ``|d loss / d h_t|`` for every step, via a zero
  perturbation of the hidden state in our own ``lax.scan`` over ``jaxrnn.nn.cells``.
* ``jaxrnn.study.longrange``: the generated long-range task (label = first token,
  then distractors) and the sequence-length sweep.
* ``jaxrnn.study.figures``, ``jaxrnn.study.report``: PNG figures and ``results.md``
  from the results dictionary.

Submodules are imported on use; nothing here imports JAX.
"""
