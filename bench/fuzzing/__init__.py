"""bench/fuzz.py's parts: the calls (services, methods, the caller, the tally) and the
messages (Hypothesis strategies from descriptors, mutated and raw bytes)."""
