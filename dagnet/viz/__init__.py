"""Pictures of graphs and training runs."""
