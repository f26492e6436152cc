"""`python -m saurus`: the same as the `saurus` command."""

import sys

from saurus.cli import main

sys.exit(main())
