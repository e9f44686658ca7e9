"""Experiments: orchestration that is more than wiring (sweeps, comparisons across seeds
or cells), on top of models, training and viz.  The commands in dagnet.cli call these;
nothing here imports dagnet.cli."""
