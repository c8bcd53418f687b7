"""Quality and speed benchmarks that print tables."""
