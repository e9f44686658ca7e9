"""``python -m dagnet``: the same as the ``dagnet`` command."""

from dagnet.cli import main

raise SystemExit(main())
