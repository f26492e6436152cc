"""The classic recipes as presets: d2l's Jay Chou RNN and min-char-rnn."""
