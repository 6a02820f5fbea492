"""Test support shipped with qorch: in-memory doubles and contract tests.

Doubles are for unit tests only. Contract tests (``*_contract`` modules) are written once
and run against every installed implementation of a kind, so a plugin pack that is
installed is under test (DESIGN §4).
"""
