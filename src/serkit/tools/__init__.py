"""Small tools on recipe and config files (``serkit config``)."""
