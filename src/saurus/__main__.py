"""`python -m saurus`: the same as the `saurus` command."""

import sys

from saurus.entry import main

sys.exit(main())
