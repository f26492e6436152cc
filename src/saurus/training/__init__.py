"""Training: its configuration and defaults, the loop, evaluation while training, outputs."""
