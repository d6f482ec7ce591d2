"""Internals of :mod:`ami.cluster`, the local Redis Cluster launcher, one job per module.

Import the public names from :mod:`ami.cluster`; these modules are private.
"""
