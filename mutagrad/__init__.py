"""mutagrad: which bugs in a hand-written backward pass would a gradient check catch?

The library is usable from a notebook; the `mutagrad` command is a thin layer over it.
"""

__version__ = "0.1.0"
