"""Reliability and safety: bad text, bad audio, bad files on disk, faults, memory growth, path and pickle safety."""
