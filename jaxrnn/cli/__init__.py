"""The commands, one module each: ``python -m jaxrnn.train`` (``cli.train``), ``predict``,
``generate``, ``sweep``, ``paired``, ``study``. Each module has ``main(argv) -> int``;
the old names (``python -m jaxrnn.predict``, ...) run these modules (``jaxrnn._aliases``).
"""
