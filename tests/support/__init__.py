"""Helpers shared by the test packages: plain functions, constants and classes, never tests.

Test packages do not import each other (nor any conftest); what several of them need lives here, and the
fixtures built on it live in tests/conftest.py.
"""
