"""jaxrnn: recurrent networks as pure JAX functions on lax.scan."""

__version__ = "0.1.0"
