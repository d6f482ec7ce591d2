"""Fault-injection suite: real producer and consumer processes against local clusters
with faults injected (SIGKILL, failover, resharding, OOM, late cluster start).

A package so that its ``conftest`` and helper modules do not shadow ``tests/conftest.py``
(``tests/test_valkey.py`` imports from it by the plain name ``conftest``).
"""
