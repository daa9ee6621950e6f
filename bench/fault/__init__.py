"""The fault benchmark's parts (bench/faults.py runs them): the topology and its lines
(context), the matcher's faults and the registry's."""
