"""The training core: what a model is trained *for* (``tasks``), the compiled step and
epoch loop (``loop``), the study RNN's per-sample SGD fast path (``per_sample_sgd``),
data parallelism (``distributed``) and the checkpoint file format (``checkpoint_file``).
"""
