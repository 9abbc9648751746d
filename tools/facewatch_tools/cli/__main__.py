"""`python -m facewatch_tools.cli`: the same command as `facewatch`."""

import sys

from facewatch_tools.cli import main

sys.exit(main())
