"""The fast batched NumPy engine: recurrent layers, the character model, optimizers."""
