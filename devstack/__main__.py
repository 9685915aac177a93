"""Run the local stack: ``python -m devstack`` (what ``bin/run`` does after its set-up)."""

import sys

from devstack.stack import main

sys.exit(main())
