"""Benchmarks: numbers printed and recorded in bench/results/, never asserted in tests."""
