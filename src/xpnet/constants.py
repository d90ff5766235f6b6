"""The book's constants, in a module of their own so that every layer can use them."""

#: The small constant the book adds inside the logarithm of the cross-entropy
#: error so that ``log(0)`` never happens.
DELTA = 1e-7
