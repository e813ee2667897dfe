"""Runs cases through the flow on the event store: the edge where steps meet the database.

A worker claims a batch of messages (tasks) in one transaction, folds each case's events into
its state, calls the step's handler, appends the events and sends the next messages, and marks
the task done, all in that same transaction. A worker killed mid-step leaves nothing behind: the
transaction never committed, and the task is claimed again on restart.
"""

from __future__ import annotations
