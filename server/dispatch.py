"""Plain (not `async`) handlers run on the calls' pool, dispatched from the event loop.

grpc.aio runs a plain handler on a thread of its own and lets that thread read the call: its
peer, its metadata. The thread may run after the client cancelled the call and grpc freed the
core call, and a read there is a read of freed memory (a segmentation fault, seen under load).
grpc's bridges for streams had two more faults: a server stream's thread waits on the loop to
take each item, and nothing takes it once the client has gone (the thread is held for good);
a client stream cancelled midway ends, for the handler, as if it had been sent whole (an
import cancelled after its first chunk stored that chunk and was logged OK).

So every plain handler is wrapped here in an `async` one of our own (server/interceptor.py):

- what a handler may read of its call (`CallView`: metadata, peer, deadline) is read on the
  loop when the call starts, and the handler gets that view, never the call;
- the handler runs on `pool`: a unary one in one piece, a streaming one a `next()` at a time
  (`Responses`), each item written from the loop, the generator closed on a thread after its
  last step;
- a client stream's messages are read on the loop and handed to the thread (`Requests`), at
  most WINDOW ahead of what the handler has taken: a fast client cannot make us hold more;
- a client that goes away releases its thread: a step not started yet is cancelled, a handler
  waiting for a message gets ClientGone (which rolls back an import), a generator is closed.

The admission ticket is taken and returned on the thread (a call whose client left still
counts until its thread is done); errors map to their status on the loop (`Call.arun`).
gRPC server reflection comes here too: server.py hands grpc_reflection the grpc.Server face
of LoopServer, so it registers its plain servicer, and grpc.aio runs the interceptor for
registered and generic handlers alike.
"""

from __future__ import annotations

import asyncio
import contextvars
import queue
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future
from contextlib import AbstractContextManager
from typing import Any, Protocol

import grpc

WINDOW = 1  # messages of a client stream read ahead of the handler (each up to max_message_mb)
_END = object()
_GONE = object()


class ClientGone(Exception):
    """Raised in a handler that asks for the next message of a client who went away."""


class CallView:
    """What a handler may read of its call, read on the loop while the call is alive."""

    def __init__(self, context: Any) -> None:
        self._metadata = tuple(context.invocation_metadata() or ())
        self._peer: str = context.peer()
        left = context.time_remaining()
        self._deadline = None if left is None else time.monotonic() + left

    def invocation_metadata(self) -> tuple[tuple[str, str | bytes], ...]:
        return self._metadata

    def peer(self) -> str:
        return self._peer

    def time_remaining(self) -> float | None:
        return None if self._deadline is None else max(self._deadline - time.monotonic(), 0.0)


class Call(Protocol):
    """The RPC in flight as the dispatch drives it (server/interceptor._Call)."""

    view: CallView
    leaves_on_thread: bool

    def admit(self) -> None: ...

    def release(self, response: Any) -> Any: ...

    def leave(self) -> None: ...

    async def arun(self, fn: Callable[[], Any]) -> Any: ...


Handler = Callable[[Any, Any], Any]
Opener = Callable[[Any], AbstractContextManager[Call]]


def unary(behavior: Handler, open_call: Opener, pool: Executor) -> Handler:
    """A plain unary-unary handler, run on the pool."""
    return _answered(behavior, open_call, pool, reads=False)


def client_stream(behavior: Handler, open_call: Opener, pool: Executor) -> Handler:
    """A plain stream-unary handler (the imports): its messages read on the loop."""
    return _answered(behavior, open_call, pool, reads=True)


def _answered(behavior: Handler, open_call: Opener, pool: Executor, *, reads: bool) -> Handler:
    async def wrapped(request: Any, context: Any) -> Any:
        with open_call(context) as call:
            call.leaves_on_thread = True
            run = contextvars.copy_context().run  # the log's and the caller's bindings
            feed = Requests(context, confirm_end=True) if reads else None
            work = _answering(call, behavior, request if feed is None else feed)
            try:
                return await call.arun(lambda: _outcome(pool.submit(run, work), feed))
            finally:
                if feed is not None:
                    await feed.stop()

    return wrapped


def server_stream(behavior: Handler, open_call: Opener, pool: Executor) -> Handler:
    """A plain unary-stream handler (a generator: streamed exports)."""
    return _streaming(behavior, open_call, pool, reads=False)


def bidi_stream(behavior: Handler, open_call: Opener, pool: Executor) -> Handler:
    """A plain stream-stream handler (gRPC server reflection, whose callers need no key)."""
    return _streaming(behavior, open_call, pool, reads=True)


def _streaming(behavior: Handler, open_call: Opener, pool: Executor, *, reads: bool) -> Handler:
    async def wrapped(request: Any, context: Any) -> Any:
        with open_call(context) as call:
            call.leaves_on_thread = True
            feed = Requests(context, confirm_end=False) if reads else None
            given = request if feed is None else feed
            responses = Responses(call, pool, lambda: behavior(given, call.view), feed)
            try:
                while (item := await responses.next()) is not _END:
                    yield item
            finally:
                responses.close()
                if feed is not None:
                    await feed.stop()

    return wrapped


def _answering(call: Call, behavior: Handler, request: Any) -> Callable[[], Any]:
    """A unary answer's work on the thread: admit, answer, release, give the ticket back."""

    def work() -> Any:
        try:
            call.admit()
            return call.release(behavior(request, call.view))
        finally:
            call.leave()

    return work


async def _outcome(step: Future[Any], feed: Requests | None) -> Any:
    """What a step on the thread returned, or raised. A step that ended for want of a
    client's message ends the call as the client did (cancelled: nothing to answer)."""
    try:
        return await asyncio.wrap_future(step)  # cancelled with us: cancels a step not started
    except ClientGone:
        raise asyncio.CancelledError from None
    except Exception:
        if feed is not None:
            await feed.settle()  # no status is sent while the reader sends headers
        raise


class Responses:
    """A plain streaming handler's items, one `next()` at a time on the pool; each step runs
    after the one before, and the generator is closed after the last (on a thread: its
    clean-up is the handler's code)."""

    def __init__(
        self,
        call: Call,
        pool: Executor,
        start: Callable[[], Iterable[Any]],
        feed: Requests | None,
    ) -> None:
        self.call, self.pool, self.start, self.feed = call, pool, start, feed
        self.run = contextvars.copy_context().run  # one context: the caller bound at admission
        self.items: Iterator[Any] | None = None
        self.last: Future[Any] | None = None
        self._finished = False
        self._finishing = threading.Lock()

    async def next(self) -> Any:
        """The next item as the caller may see it, or _END; errors map on the loop."""
        self.last = self.pool.submit(self.run, self._step)
        step = self.last
        return await self.call.arun(lambda: _outcome(step, self.feed))

    def _step(self) -> Any:
        try:
            if self.items is None:
                self.call.admit()
                self.items = iter(self.start())
            item = next(self.items, _END)
            if item is _END:
                self._finish()
                return _END
            return self.call.release(item)
        except BaseException:
            self._finish()
            raise

    def _finish(self) -> None:
        """Close the generator and give the ticket back, once."""
        with self._finishing:
            if self._finished:
                return
            self._finished = True
        try:
            close = getattr(self.items, "close", None)
            if close is not None:
                close()
        finally:
            self.call.leave()

    def close(self) -> None:
        """The call has ended (the loop's side): finish after the last step, on a thread."""
        last = self.last
        if self._finished or last is None:
            return

        def after(_: Future[Any]) -> None:
            try:
                self.pool.submit(self.run, self._finish)
            except RuntimeError:  # the pool is shut down: the server is stopping
                self._finish()

        last.add_done_callback(after)


class Requests:
    """A client stream's messages for a handler on a thread: read on the loop (each read while
    the call is alive), taken by the handler's iteration, at most WINDOW read ahead of it. The
    iteration ends at the stream's end; if the client goes away, it raises ClientGone.

    A cancelled call's reads end as a finished stream's do. With `confirm_end`, the end is
    confirmed by sending the response headers, which cannot be sent on a cancelled call: a
    client stream's handler answers once, at the end, and an import must not take a cancelled
    stream for a whole one. A bidirectional handler has sent its answers (and headers) as it
    read; it has nothing to commit at the end, and its end is not confirmed."""

    def __init__(self, context: Any, *, confirm_end: bool) -> None:
        self.context = context
        self.confirm_end = confirm_end
        self.loop = asyncio.get_running_loop()
        self._items: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._room = asyncio.Semaphore(0)  # reads granted by the handler's asking (loop side)
        self._asked = False  # the handler's side
        self._ended = False  # the loop's side: _END or _GONE given
        self._probing = False
        self._reader = asyncio.create_task(self._read())
        # grpc runs a call's done callbacks before it frees the call: no read starts after
        # (a streaming handler's own clean-up may run later, when grpc drops its generator).
        context.add_done_callback(lambda _: self._reader.cancel())

    # The loop's side
    async def _read(self) -> None:
        try:
            while True:
                await self._room.acquire()  # nothing is read before the handler asks
                message = await self.context.read()
                if message is grpc.aio.EOF:  # type: ignore[attr-defined]
                    break
                self._items.put(message)
            if self.confirm_end:
                self._probing = True
                await self.context.send_initial_metadata(())
        except Exception:  # the call is over (cancelled, aborted, the server stopping)
            self._end(_GONE)
            return
        finally:
            self._probing = False
        self._end(_END)

    def _end(self, how: object) -> None:
        if not self._ended:
            self._ended = True
            self._items.put(how)

    async def settle(self) -> None:
        """Wait for the reader's headers, if it is sending them (no status goes with them)."""
        if self._probing:
            await asyncio.wait([self._reader])

    async def stop(self) -> None:
        """The call has ended: no more reads; a handler still asking gets ClientGone."""
        self._end(_GONE)
        if self._probing:
            await asyncio.wait([self._reader])
        else:
            self._reader.cancel()

    # The handler's side (a thread of the pool)
    def __iter__(self) -> Iterator[Any]:
        return self

    def __next__(self) -> Any:
        if not self._asked:
            self._asked = True
            self._grant(WINDOW)
        item = self._items.get()
        if item is _END or item is _GONE:
            self._items.put(item)  # and for every later next()
            if item is _GONE:
                raise ClientGone("the client went away before the end of its stream")
            raise StopIteration
        self._grant(1)
        return item

    def _grant(self, reads: int) -> None:
        try:
            for _ in range(reads):
                self.loop.call_soon_threadsafe(self._room.release)
        except RuntimeError:  # the loop is closed: the server has stopped
            pass
