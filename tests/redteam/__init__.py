"""DeepWire's own red team: hostile inputs crossed with every command, and what each case must keep.

  runner.py     runs one case (in this process through runtime.cli.main, or in a child
                where a hang or a memory blow-up must not take the test run down) and
                judges it: exit code, traceback, time, files changed, partial files,
                marker files, leftover processes and temporary folders
  tally.py      the counts per surface and input class, printed with `pytest -s`
  workspace.py  a case's folders: inputs (hashed), outputs, its own temporary folder
  checkpoints.py, datafiles.py, specials.py, bombs.py, runfolders.py, mutations.py
                the hostile inputs, one module per class
  surfaces.py   the commands, each a function from a case's inputs to argv
  studio_open.py  the studio's open path up to first paint, in or out of process

tests/test_redteam.py crosses them (default: a few hundred cases; slow: 20,000+).
"""
