"""Runs of a project: the runs panel, evaluation views and the export dialog (torch stays in children)."""
