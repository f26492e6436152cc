"""saurus: small character-level sequence models that invent new names and text."""

__version__ = "0.1.0"
