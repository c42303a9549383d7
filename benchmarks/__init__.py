"""Benchmarks: ``python -m benchmarks.run [--quick] [--out DIR]`` (``make bench [QUICK=1]``)."""
