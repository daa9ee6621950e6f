"""CachedKeys: one lookup per key at a time, refreshed ahead of expiry, revocation honoured."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from registry.access import keys
from registry.access.policy import Principal, Role
from registry.errors import Unauthenticated, Unavailable

SECRET = "fupin_" + "a" * 43
ALICE = Principal("key_alice", Role.OFFICE, "350624")


class SlowKeys(keys.CachedKeys):
    """Looks keys up in a dict, each lookup held until ``release`` is set, and counted."""

    def __init__(self) -> None:
        super().__init__()
        self.known: dict[str, Principal] = {keys.hash_secret(SECRET): ALICE}
        self.release = threading.Event()
        self.release.set()
        self.lookups = 0
        self.fail = False

    def _lookup(self, secret: str, key_hash: str) -> Principal | None:
        self.lookups += 1
        answer, fail = self.known.get(key_hash), self.fail  # read, then the reply is held
        assert self.release.wait(10)
        if fail:
            raise Unavailable("the registry is away")
        return answer


@pytest.fixture
def short_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keys, "CACHE_S", 2.0)
    monkeypatch.setattr(keys, "REFRESH_AFTER_S", 1.0)


def test_callers_of_an_unseen_key_share_one_lookup() -> None:
    store = SlowKeys()
    store.release.clear()
    with ThreadPoolExecutor(16) as pool:
        calls = [pool.submit(store.authenticate, SECRET) for _ in range(16)]
        time.sleep(0.2)  # all 16 are waiting now
        store.release.set()
        assert [c.result(10) for c in calls] == [ALICE] * 16
    assert store.lookups == 1


def test_a_key_in_use_is_refreshed_without_making_callers_wait(short_cache: None) -> None:
    store = SlowKeys()
    assert store.authenticate(SECRET) == ALICE
    time.sleep(1.2)  # past REFRESH_AFTER_S, before CACHE_S
    store.release.clear()  # the refresh will hang until released
    began = time.monotonic()
    assert store.authenticate(SECRET) == ALICE  # answered from the cache
    assert store.authenticate(SECRET) == ALICE
    assert time.monotonic() - began < 0.5
    store.release.set()
    deadline = time.monotonic() + 5
    while store.lookups < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert store.lookups == 2  # one background refresh for both calls
    store.release.clear()  # from now on a lookup would hang
    time.sleep(1.0)  # the first answer has expired; the refreshed one has not
    began = time.monotonic()
    assert store.authenticate(SECRET) == ALICE
    assert time.monotonic() - began < 0.5
    store.release.set()


def test_revocation_during_a_lookup_is_not_undone(short_cache: None) -> None:
    """A key forgotten (revoked here) while its lookup runs: that answer is not cached."""
    store = SlowKeys()
    store.release.clear()
    with ThreadPoolExecutor(1) as pool:
        call = pool.submit(store.authenticate, SECRET)
        while store.lookups == 0:  # until the lookup has read the key
            time.sleep(0.01)
        del store.known[keys.hash_secret(SECRET)]
        store._forget(keys.hash_secret(SECRET))
        store.release.set()
        assert call.result(10) == ALICE  # the lookup began before the revocation
    with pytest.raises(Unauthenticated):
        store.authenticate(SECRET)
    assert store.lookups == 2


def test_a_failed_refresh_keeps_the_answer_until_it_expires(short_cache: None) -> None:
    store = SlowKeys()
    assert store.authenticate(SECRET) == ALICE
    time.sleep(1.2)
    store.fail = True
    assert store.authenticate(SECRET) == ALICE  # cached; the refresh fails in the background
    time.sleep(1.0)  # now expired: the caller itself looks up, and is told why it failed
    with pytest.raises(Unavailable):
        store.authenticate(SECRET)
    store.fail = False
    assert store.authenticate(SECRET) == ALICE
