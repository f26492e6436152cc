"""How a model is trained: numpy (the NumPy models with their own optimizers) or torch (the
same models in PyTorch, converted back to NumPy on saving)."""
