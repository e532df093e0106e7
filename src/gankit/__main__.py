"""``python -m gankit ...`` (and ``torchrun -m gankit ...``): the ``gankit`` command line."""
import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
