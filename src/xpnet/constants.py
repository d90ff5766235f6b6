"""The book's constants and names, in a module of their own so that every layer can use them."""

#: The small constant the book adds inside the logarithm of the cross-entropy
#: error so that ``log(0)`` never happens.
DELTA = 1e-7

#: The two-layer net's parameters, in the order the book's ``TwoLayerNet`` makes them.
PARAM_NAMES = ("W1", "b1", "W2", "b2")
