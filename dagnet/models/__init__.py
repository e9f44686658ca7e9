"""Builders: functions that return a ready Graph."""

from dagnet.models.fully_connected import fully_connected

__all__ = ["fully_connected"]
