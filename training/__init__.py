"""The source checkout's entry points (`python -m training.<module>`): corpus preparation, piece
training, model training (AST model and token baseline), evaluation and the research comparison."""
