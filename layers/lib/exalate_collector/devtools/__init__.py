"""Tools for the demo, the tests and the benchmarks; not used by a production run."""
