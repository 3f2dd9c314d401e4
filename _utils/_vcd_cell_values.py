"""
One check per kind of value the extension takes: the states' and the execution functions' arguments,
the minion's ``vcd_cell:*`` settings and the orchestrations' plans all go through these, so a wrong
value is refused with the same words wherever it is given. Each returns the value it checked, and
raises a :class:`SaltInvocationError` that names the argument, what it must be and what it was.
"""

import os

from salt.exceptions import SaltInvocationError


def _refuse(name, what, value):
    raise SaltInvocationError(f"{name} must be {what}, not {value!r}")


def _number(value):
    # YAML's true and false are ints to Python: never a count or a duration.
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def seconds(name, value, minimum=None):
    """A duration: more than 0 seconds, or with ``minimum`` at least that many."""
    if minimum is None:
        if not _number(value) or value <= 0:
            _refuse(name, "a positive number of seconds", value)
    elif not _number(value) or value < minimum:
        _refuse(name, f"a number of seconds of at least {minimum}", value)
    return value


def lease(value, name="lease"):
    """A quiesce lease's seconds: 0 for no lease."""
    if not _number(value) or value < 0:
        _refuse(name, "0 (no lease) or a positive number of seconds", value)
    return value


def drain_wait(timeout, interval):
    """A drain's deadline and how often it reads the cell meanwhile."""
    seconds("timeout", timeout)
    seconds("interval", interval)
    if interval > timeout:
        raise SaltInvocationError(f"interval ({interval}) must not be longer than timeout ({timeout})")


def whole_number(name, value, minimum):
    """A count of at least ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        _refuse(name, f"a whole number of at least {minimum}", value)
    return value


def flag(name, value):
    """True or false, as YAML spells them; never a string that looks like one."""
    if not isinstance(value, bool):
        _refuse(name, "true or false", value)
    return value


def choice(name, value, choices):
    """One of ``choices``."""
    if value not in choices:
        _refuse(name, f"one of {', '.join(map(str, choices))}", value)
    return value


def text(name, value, what="a non-empty string"):
    """A non-empty string (``what`` says which)."""
    if not isinstance(value, str) or not value:
        _refuse(name, what, value)
    return value


def absolute_path(name, value):
    """A path from the root of the host's file system."""
    if not isinstance(value, str) or not os.path.isabs(value):
        _refuse(name, "an absolute path", value)
    return value


def optional_text(name, value, what="a non-empty string"):
    """None, or :func:`text`."""
    return value if value is None else text(name, value, what)


def optional_dict(name, value):
    """None, or a dictionary (a pillar)."""
    if value is not None and not isinstance(value, dict):
        # Its contents are not quoted: a pillar may hold a password.
        raise SaltInvocationError(f"{name} must be a dictionary, not a {type(value).__name__}")
    return value
