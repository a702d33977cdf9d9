"""The sub-commands of `deepwire`, one module each (see runtime/cli.py)."""
