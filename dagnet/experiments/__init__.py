"""Experiments: sweeps and comparisons built on models and training (never on dagnet.cli)."""
