"""Whether an HTTP response has started: the one record of it, kept per request.

The guard (``App.__call__``) must not answer an error with a 500 once the server has
received a message of the response: a second ``http.response.start`` is a protocol error.
So it keeps a record, ``[False]`` until a message went out, and reads it when an error
escapes. Over HTTP the first message must be the start, so any message counts.

The record has exactly one writer for any given ``send``:

- ``recording_send(record, send)``: a send that sets the record, then forwards. The guard
  hands it to user middleware, and ``hand_over`` to anything else that sends as it likes:
  the app a Mount or a Host serves, a route's own middleware, a response class that does
  not record its own start.
- The code that sends a start with the server's own send, while ``scope[RESPONSE_STATE_KEY]``
  holds the record: it calls ``note_start(scope)`` first (the route does it inline). The
  guard puts the record in the scope only when no user middleware sits between the router
  and the server, and ``hand_over`` takes it out when it wraps ``send`` for other code, so
  nothing further in records twice. Recording directly costs a dict lookup where a
  recording send would cost a Python call per message.

The built-in responses record their own start (``records_its_start``); any other response
class, yours included, gets a recording send from the route.
"""

import functools
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from microasgi.types import Message, Scope, Send

# The scope key of the record, present while whoever holds ``send`` talks to the server.
RESPONSE_STATE_KEY = "microasgi.response_state"

# ``[False]`` until the server received a message of the response. A one-element list,
# not an object: one is built on every request, and a list costs the least to build.
ResponseState = list[bool]


def note_sent(state: ResponseState, send: Send, message: Message) -> Awaitable[None]:
    """Record that ``message`` went out, and send it (see ``recording_send``)."""
    state[0] = True
    # The server's awaitable, returned rather than awaited: no coroutine frame.
    return send(message)


def recording_send(state: ResponseState, send: Send) -> Send:
    """``send``, recording in ``state`` that a message went through it."""
    return functools.partial(note_sent, state, send)


def hand_over(scope: Scope, send: Send) -> Send:
    """The send to give to code that may send by itself: ``send`` as it is, or, while
    ``scope`` holds the record, a recording send, the record taken out of ``scope``."""
    state: ResponseState | None = scope.pop(RESPONSE_STATE_KEY, None)
    return send if state is None else recording_send(state, send)


def note_start(scope: Scope) -> None:
    """Record, if ``scope`` holds the record, that a start is about to be sent with the
    server's own send. For the responses that ``records_its_start``."""
    state: ResponseState | None = scope.get(RESPONSE_STATE_KEY)
    if state is not None:
        state[0] = True


# The __call__ functions that call note_start before their start. Keyed by the function,
# not by the class: a subclass that overrides __call__ is not in it.
_RECORDING_CALLS: set[Callable[..., Any]] = set()

C = TypeVar("C", bound=type)


def records_its_start(cls: C) -> C:
    """Class decorator: ``cls.__call__`` calls ``note_start(scope)`` before its start."""
    _RECORDING_CALLS.add(cls.__call__)
    return cls


def records_own_start(response: object) -> bool:
    """Whether sending ``response`` records its own start (its ``__call__`` was declared
    with ``records_its_start`` and is not overridden)."""
    return type(response).__call__ in _RECORDING_CALLS
