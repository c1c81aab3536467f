"""Utterance records, corpus loaders, label maps and split protocols."""
