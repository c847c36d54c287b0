"""Many small S3 requests in flight at little CPU each: obstore on one event loop thread.

Measured at 30 ms a request on 2 cores (``benchmarks/clients.py``, results/clients.json): boto3
costs 1.3-1.7 ms of CPU per GET under the GIL and tops out near 300-540 GETs/s whatever the thread
count; aiobotocore about 1.4 ms; obstore (Rust, its HTTP stack off the GIL) 0.35 ms and 2,400 GETs/s
with 256 in flight. So bulk reads go through obstore; everything else stays on boto3.

The user's configuration is still boto3's: the endpoint and region come from the botocore client
that :class:`~assetlake.store._s3.S3Store` built from the standard AWS settings (``AWS_ENDPOINT_URL``,
profiles, config files), and credentials are resolved by botocore and handed to obstore through a
provider that asks botocore again before they expire (botocore refreshes expiring ones itself).
"""

from __future__ import annotations

import asyncio
import atexit
import queue
import threading
import time
from collections.abc import Callable, Coroutine, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from assetlake.errors import LakeError
from assetlake.store import ObjectInfo

#: Requests in flight: enough to hide 50 ms at 2,000+ requests/s, and what the measurement used.
INFLIGHT = 256
#: Answers taken between two releases of the gate (one cross-thread call each).
CREDIT = 32
#: A byte range longer than any object: S3 answers a range past the end with the whole object.
_WHOLE = 1 << 62
#: How long obstore may reuse credentials before asking botocore again.
CREDENTIAL_TTL = timedelta(minutes=5)

T = TypeVar("T")


class BotocoreCredentials:
    """An obstore credential provider backed by botocore's resolved (and refreshing) credentials."""

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials

    def __call__(self) -> dict[str, Any]:
        frozen = self.credentials.get_frozen_credentials()
        expires = datetime.now(UTC) + CREDENTIAL_TTL
        expiry = getattr(self.credentials, "_expiry_time", None)  # refreshable credentials only
        if expiry is not None:
            expires = min(expires, expiry.astimezone(UTC) - timedelta(seconds=60))
        return {
            "access_key_id": frozen.access_key,
            "secret_access_key": frozen.secret_key,
            "token": frozen.token,
            "expires_at": expires,
        }


class Bulk:
    """Bulk GET/HEAD of one bucket's keys (relative to ``prefix``), results streamed as they come."""

    def __init__(self, client: Any, credentials: Any, bucket: str, prefix: str, url: str) -> None:
        from obstore.store import S3Store as ObStore

        endpoint = client.meta.endpoint_url
        options = {"pool_max_idle_per_host": str(INFLIGHT)}
        if endpoint.startswith("http://"):
            options["allow_http"] = "true"
        self.url = url
        self.prefix = prefix
        self.store = ObStore(
            bucket,
            endpoint=endpoint,
            region=client.meta.region_name,
            credential_provider=BotocoreCredentials(credentials),  # type: ignore[arg-type]
            client_options=options,  # type: ignore[arg-type]
        )

    def get_many(
        self, keys: Iterable[str], inflight: int | None = None
    ) -> Iterator[tuple[str, bytes | None]]:
        """``(key, bytes or None when missing)`` for every key, in completion order."""
        return self._many(self._get, keys, inflight or INFLIGHT)

    def head_many(self, keys: Iterable[str]) -> Iterator[tuple[str, ObjectInfo | None]]:
        """``(key, size and ETag or None when missing)`` for every key, in completion order."""
        return self._many(self._head, keys)

    def list_many(
        self, prefixes: Iterable[str], inflight: int
    ) -> Iterator[tuple[str, list[ObjectInfo] | None]]:
        """``(prefix, its objects in key order)`` for every prefix, in completion order, at
        most ``inflight`` listed at once (a folder's listing is held whole, and a foreign
        asset's Zarr may hold millions of objects); None for a prefix that is no folder (obstore
        lists whole '/'-separated parts only) or that holds a key obstore refuses to parse:
        the caller lists those otherwise."""
        return self._many(self._list, prefixes, inflight)

    async def _get(self, key: str) -> bytes | None:
        """The whole object as one byte range from 0 to past any end: one await (a plain GET
        takes two, the reply and then its body, and each wakes this loop from obstore's
        threads), a third less CPU per GET. An empty object has no byte range (S3 answers 416)
        and a store may refuse ranges: a plain GET reads those."""
        import obstore

        path = self.prefix + key
        try:
            return bytes(await obstore.get_range_async(self.store, path, start=0, length=_WHOLE))
        except FileNotFoundError:  # obstore's NotFoundError
            return None
        except Exception:  # any other refusal: the plain GET below answers or raises
            pass
        try:
            reply = await obstore.get_async(self.store, path)
            return bytes(await reply.bytes_async())
        except FileNotFoundError:
            return None

    async def _head(self, key: str) -> ObjectInfo | None:
        import obstore

        try:
            meta = await obstore.head_async(self.store, self.prefix + key)
        except FileNotFoundError:  # obstore's NotFoundError
            return None
        return ObjectInfo(key, meta["size"], (meta.get("e_tag") or "").strip('"') or None)

    async def _list(self, prefix: str) -> list[ObjectInfo] | None:
        import obstore
        from obstore.exceptions import InvalidPathError

        if not prefix.endswith("/"):
            return None
        try:
            found = await obstore.list(self.store, self.prefix + prefix).collect_async()
        except InvalidPathError:
            return None
        start = len(self.prefix)
        objects = (
            ObjectInfo(meta["path"][start:], meta["size"], (meta["e_tag"] or "").strip('"') or None)
            for meta in found
        )
        return sorted(objects, key=lambda info: info.key)

    def _many(
        self,
        call: Callable[[str], Coroutine[Any, Any, T]],
        keys: Iterable[str],
        inflight: int = INFLIGHT,
    ) -> Iterator[tuple[str, T]]:
        """At most ``inflight`` requests in flight or answered but not yet taken, so memory
        stays flat however many keys. Requests start on the loop thread and answers come back
        through one queue: a key costs this thread no cross-thread call of its own (a future per
        key cost more CPU than obstore's whole GET), only a release of the gate every
        :data:`CREDIT` answers (fewer when fewer are in flight)."""
        loop = _running_loop()
        answers: queue.SimpleQueue[tuple[str, Any, Exception | None]] = queue.SimpleQueue()
        gate = asyncio.Semaphore(inflight)  # bound to the loop on first use, there
        credit = max(1, min(CREDIT, inflight // 8))
        stopped = threading.Event()

        async def one(key: str) -> None:
            try:
                answers.put((key, await call(key), None))
            except Exception as error:
                answers.put((key, None, error))

        async def feed() -> None:
            running: set[asyncio.Task[None]] = set()
            count = 0
            try:
                for key in keys:  # read here, one at a time: a million keys are never a list
                    await gate.acquire()
                    if stopped.is_set():
                        return
                    task = asyncio.ensure_future(one(key))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    count += 1
            except Exception as error:  # a key refused (safe_key): raised as is, after the rest
                answers.put((_END, count, error))
            else:
                answers.put((_END, count, None))

        def release(count: int) -> None:
            for _ in range(count):
                gate.release()

        asyncio.run_coroutine_threadsafe(feed(), loop)
        taken, answered, expected, refused = 0, 0, None, None
        try:
            while expected is None or answered < expected:
                key, answer, error = answers.get()
                if key is _END:
                    expected, refused = answer, error
                    continue
                if error is not None:
                    raise self._error(key, error)
                answered += 1
                taken += 1
                if taken == credit:
                    loop.call_soon_threadsafe(release, taken)
                    taken = 0
                yield key, answer
            if refused is not None:
                raise refused
        finally:
            stopped.set()
            loop.call_soon_threadsafe(release, inflight)  # wakes the feeder to see it stop

    def _error(self, key: str, error: Exception) -> LakeError:
        """obstore's errors, as one line naming the object."""
        return LakeError(
            f"{self.url}/{key}: S3 error ({type(error).__name__}: "
            f"{str(error).splitlines()[0] if str(error) else ''}); check AWS_ENDPOINT_URL, "
            "the credentials and the network"
        )


#: Put on the answers' queue by the feeder once it has read every key, with their count.
_END: Any = object()

_loop: asyncio.AbstractEventLoop | None = None
_loop_lock = threading.Lock()


def _running_loop() -> asyncio.AbstractEventLoop:
    """One event loop per process, on a daemon thread started on first use, shared by every
    store (a long-running site or agent that opens stores again starts no more threads)."""
    global _loop
    with _loop_lock:
        if _loop is None:
            _loop = _Loop()
            thread = threading.Thread(target=_loop.run_forever, name="assetlake-bulk", daemon=True)
            thread.start()
            atexit.register(_stop, _loop, thread)
        return _loop


class _Loop(asyncio.SelectorEventLoop):
    """The loop obstore's own threads hand answers to, knowing which of them are inside it.

    obstore answers a request from one of its threads by calling ``call_soon_threadsafe``, which
    lets go of the GIL to wake the loop. The caller waiting for that answer can be woken first,
    finish, and let Python begin to shut down; the obstore thread, taking the GIL back while
    Python shuts down, is ended by Python in a way that aborts the process (SIGABRT), after its
    work was done. :func:`_stop` waits for such calls to return before the shutdown."""

    def __init__(self) -> None:
        super().__init__()
        self.inside: set[int] = set()  # ids of the threads inside call_soon_threadsafe

    def call_soon_threadsafe(self, *args: Any, **kwargs: Any) -> asyncio.Handle:
        me = threading.get_ident()
        self.inside.add(me)
        try:
            return super().call_soon_threadsafe(*args, **kwargs)
        finally:
            self.inside.discard(me)


def _stop(loop: _Loop, thread: threading.Thread) -> None:
    """Before the interpreter is torn down, end the loop's thread and let every obstore thread
    that is handing an answer over return (see :class:`_Loop`). A request still running (a read
    a server holds, abandoned after an error) is not waited for."""
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    deadline = time.monotonic() + 5
    while loop.inside and time.monotonic() < deadline:
        time.sleep(0.001)  # lets go of the GIL, which those threads wait for
    time.sleep(0.001)  # and the last lines of the call, after it left ``inside``
