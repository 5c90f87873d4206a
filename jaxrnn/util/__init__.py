"""Small utilities: atomic file writes (``atomic``), the persistent compile cache
(``cache``), quiet exits on a closed pipe (``pipes``).
"""
