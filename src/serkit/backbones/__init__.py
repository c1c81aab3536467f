"""Pretrained backbones shared by features and models, below both in the layers: :mod:`serkit.backbones.hf`
loads Hugging Face speech and text encoders (hub name, local folder or ``package:<module>``, offline-safe) and runs
speech encoders into per-utterance hidden states. Nothing here is registered or trained; ``transformers`` is imported
only when a function needs it.
"""
