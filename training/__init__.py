"""Corpus preparation, piece training and (later) model training entry points."""
