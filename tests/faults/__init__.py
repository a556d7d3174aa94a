"""Fault and bad-input tests of the project's containers (marker ``docker``), see conftest.py."""
