"""The bottom layer: registries, error types, atomic file I/O and the output guard, the one value parser
(:mod:`~serkit.core.values`), round-trip YAML/JSON edits (:mod:`~serkit.core.yaml_edit`), options, progress bars.

Nothing here imports from any other part of serkit.
"""
