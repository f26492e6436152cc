"""The NumPy models: the recurrent family (RNN, GRU, LSTM), the Transformer and the classic
exercise's RNN, with their cells and optimizers. Every trained model is one of these."""
