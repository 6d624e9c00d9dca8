"""The archive: every raw answer of every run, byte for byte, one object per node per run."""
