"""Benchmarks (`make bench`): each comparison runs side by side in one run and prints medians."""
