"""``python -m starter``: see :mod:`starter.cli`."""

from starter.cli import main

raise SystemExit(main())
