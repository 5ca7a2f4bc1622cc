"""`python -m edgedepth` (and `torchrun -m edgedepth`): the `edgedepth` command line."""

import sys

from edgedepth.cli import main

if __name__ == "__main__":
    sys.exit(main())
