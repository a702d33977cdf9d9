"""The main window's dock panels: problems, history, code, summary strip, start page."""
