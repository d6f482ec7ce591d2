"""The launcher's RESP helper under its old name, until its last importers move off it."""

from ami.cluster.resp import *  # noqa: F403
