"""DeepWire's benchmarks: each bench_*.py measures one speed target against its reference.

`python bench/run.py` runs them all and prints one table (see bench/run.py);
each file also runs alone as a script. bench/figures.py holds the row format
they all return.
"""
