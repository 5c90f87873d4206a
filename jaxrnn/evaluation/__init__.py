"""Scoring predictions: classification metrics and reports (``metrics``) and entity
spans with conlleval's precision, recall and F1 (``spans``). NumPy only.
"""
