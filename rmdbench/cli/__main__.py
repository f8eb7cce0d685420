"""``python -m rmdbench.cli``: the same command line as ``rmdbench``."""

from rmdbench.cli import main

main()
