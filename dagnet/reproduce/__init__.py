"""``dagnet reproduce``: every part of the tutorial series re-run with dagnet's own commands.

* ``experiments``: the table of experiments (each a ``dagnet`` command line, at
  three budgets) and how to read their headline numbers from ``metrics.json``;
* ``report``: ``index.html``, the one page that shows every figure and number;
* ``docs``: the tutorial pages' generated blocks (docs/part*.md) and their figures;
* ``runner``: running the experiments (skipping, recording, the run folder), with the
  command runner passed in: ``dagnet.cli.reproduce`` passes ``dagnet.cli.main``.
"""
