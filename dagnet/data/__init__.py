"""Data sets: readers, generators and downloaders (each with checksums and a cache)."""
