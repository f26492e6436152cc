"""The PyTorch engine: the same models as saurus.engine (and a Transformer), trained with
torch on the CPU or a GPU, saved in the same NumPy model file.

Needs the `torch` extra (`pip install torch==2.13.0` then `pip install -e ".[torch]"`);
nothing outside this folder imports torch, so the core runs without it.
"""
