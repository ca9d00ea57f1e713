"""Pyro's ``pyro.poutine.broadcast_messenger`` path for :class:`BroadcastMessenger`.

Example:
    >>> import ppl.poutine as poutine
    >>> poutine.broadcast_messenger.BroadcastMessenger is poutine.BroadcastMessenger
    True
"""

from .plate_messenger import BroadcastMessenger

__all__ = ["BroadcastMessenger"]
