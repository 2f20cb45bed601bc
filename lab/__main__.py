"""python -m lab: the same as the ssmlab command."""

from lab.cli import main

raise SystemExit(main())
