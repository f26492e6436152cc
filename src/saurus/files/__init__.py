"""Model files: the format, saving and loading by kind, atomic writes."""
