"""The `saurus` command line: main (the one list of commands), args (value parsers and
shared option groups) and one module per command. Nothing outside this folder imports it."""
