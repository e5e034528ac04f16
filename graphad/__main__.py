"""``python -m graphad`` (and ``torchrun -m graphad``): the command-line interface."""
import sys

from graphad.cli import main

if __name__ == "__main__":
    sys.exit(main())
