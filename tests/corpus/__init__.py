"""The public-model corpus of the import tests (tests/test_import_corpus.py): zoo entries and own models."""
