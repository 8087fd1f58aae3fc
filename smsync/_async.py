"""Glue between ``async def`` implementations and the Deferred-returning interfaces."""

import functools

from twisted.internet.defer import Deferred


def deferred(fn):
    """Make an ``async def`` method return a Deferred, as every interface method must."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        return Deferred.fromCoroutine(fn(*args, **kwargs))

    return wrapper
