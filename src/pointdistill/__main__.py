"""Allows ``python -m pointdistill`` (and ``torchrun -m pointdistill``)."""

from pointdistill.cli.main import main

raise SystemExit(main())
