"""The bottom layer: registries, error types, atomic file I/O and the output guard, the one value parser, options.

Nothing here imports from any other part of serkit.
"""
