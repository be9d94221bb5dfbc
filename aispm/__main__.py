"""``python -m aispm``."""

from aispm.cli import main

raise SystemExit(main())
