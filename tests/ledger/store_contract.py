"""The contract every log store passes. A backend's test module subclasses ``StoreContract``
and provides the ``make_store`` and ``reopen`` fixtures; nothing here knows which database runs.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from safepassage.errors import StoreError
from safepassage.ledger import merkle
from safepassage.ledger.store import LogStore

MakeStore = Callable[[], LogStore]
Reopen = Callable[[LogStore], LogStore]


def _data(i: int) -> bytes:
    return b"entry %d" % i


class StoreContract:
    """Behaviour a user relies on, whatever the database."""

    def test_a_new_store_is_empty(self, make_store: MakeStore) -> None:
        with make_store() as store:
            assert store.size() == 0
            assert store.root() == merkle.EMPTY_ROOT
            assert store.checkpoints() == []
            assert store.latest_checkpoint() is None
            assert list(store.iter_entries()) == []

    def test_appends_get_contiguous_indexes_and_read_back(self, make_store: MakeStore) -> None:
        with make_store() as store:
            assert [store.append(_data(i)) for i in range(5)] == [0, 1, 2, 3, 4]
            assert store.append_batch([_data(i) for i in range(5, 12)]) == 5
            assert store.size() == 12
            assert store.entry(7) == _data(7)
            assert list(store.iter_entries(3, 6)) == [(i, _data(i)) for i in range(3, 6)]
            assert store.leaf_hash(11) == merkle.leaf_hash(_data(11))

    def test_empty_and_zero_length_entries(self, make_store: MakeStore) -> None:
        with make_store() as store:
            assert store.append(b"") == 0
            assert store.entry(0) == b""
            assert store.root() == merkle.leaf_hash(b"")

    # differing_executors: every backend's subclass runs this method; it keeps no state on self
    @settings(
        max_examples=15,
        deadline=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.differing_executors,
        ],
    )
    @given(batches=st.lists(st.integers(1, 40), min_size=1, max_size=8), data=st.data())
    def test_roots_and_proofs_match_the_reference_at_every_size(
        self, make_store: MakeStore, batches: list[int], data: st.DataObject
    ) -> None:
        with make_store() as store:
            leaves: list[bytes] = []
            for count in batches:
                items = [_data(len(leaves) + i) for i in range(count)]
                store.append_batch(items)
                leaves += [merkle.leaf_hash(x) for x in items]
            n = len(leaves)
            for size in sorted({1, n, data.draw(st.integers(1, n))}):
                assert store.root(size) == merkle.root(leaves[:size])
                index = data.draw(st.integers(0, size - 1))
                proof = store.inclusion_proof(index, size)
                assert proof == merkle.inclusion_proof(leaves[:size], index)
                merkle.verify_inclusion(leaves[index], index, size, proof, store.root(size))
                size1 = data.draw(st.integers(1, size))
                cproof = store.consistency_proof(size1, size)
                assert cproof == merkle.consistency_proof(leaves[:size], size1)
                merkle.verify_consistency(size1, size, cproof, store.root(size1), store.root(size))

    def test_the_root_just_committed_is_known_without_reading(
        self, make_store: MakeStore, reopen: Reopen, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with make_store() as store:
            items = [_data(i) for i in range(11)]
            store.append_batch(items[:4])
            store.append_batch(items[4:])
            expected = merkle.root([merkle.leaf_hash(x) for x in items])

            def no_read(*_: object) -> None:
                raise AssertionError("read the database")

            with monkeypatch.context() as m:
                m.setattr(store, "size", no_read)
                m.setattr(store, "nodes", no_read)
                assert store.root(11) == expected  # what a writer asks right after appending
            with reopen(store) as other:  # another process appends: this one reads again
                other.append(_data(11))
            assert store.root(12) == merkle.root([merkle.leaf_hash(_data(i)) for i in range(12)])
            assert store.root(4) == merkle.root([merkle.leaf_hash(x) for x in items[:4]])

    def test_concurrent_appenders_never_share_an_index(self, make_store: MakeStore) -> None:
        with make_store() as store:
            got: dict[int, bytes] = {}
            lock = threading.Lock()

            def worker(k: int) -> None:
                for i in range(50):
                    data = b"w%d-%d" % (k, i)
                    index = store.append(data)
                    with lock:
                        assert index not in got
                        got[index] = data

            threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert sorted(got) == list(range(400))
            assert dict(store.iter_entries()) == got
            assert store.root() == merkle.root([merkle.leaf_hash(got[i]) for i in range(400)])

    def test_async_appenders_never_share_an_index(self, make_store: MakeStore) -> None:
        with make_store() as store:

            async def run() -> list[int]:
                return await asyncio.gather(
                    *(store.append_async([b"a%d" % k, b"b%d" % k]) for k in range(100))
                )

            starts = asyncio.run(run())
            assert sorted(starts) == list(range(0, 200, 2))
            entries = dict(store.iter_entries())
            for k, start in enumerate(starts):
                assert (entries[start], entries[start + 1]) == (b"a%d" % k, b"b%d" % k)

    def test_a_bad_batch_writes_nothing(self, make_store: MakeStore) -> None:
        with make_store() as store:
            store.append(b"first")
            with pytest.raises(StoreError) as err:
                store.append_batch([b"ok", "not bytes", b"ok"])  # type: ignore[list-item]
            assert err.value.field == "entries[1]"
            with pytest.raises(StoreError) as err:
                store.append_batch([])
            assert err.value.field == "entries"
            assert store.size() == 1

    @pytest.mark.parametrize(
        ("call", "field"),
        [
            (lambda s: s.entry(3), "index"),
            (lambda s: s.entry(-1), "index"),
            (lambda s: s.inclusion_proof(3), "index"),
            (lambda s: s.inclusion_proof(0, 4), "size"),
            (lambda s: s.root(-1), "size"),
            (lambda s: s.consistency_proof(0, 2), "size1"),
            (lambda s: s.consistency_proof(3, 2), "size1"),
        ],
    )
    def test_out_of_range_requests_name_the_field(
        self, make_store: MakeStore, call: Callable[[LogStore], object], field: str
    ) -> None:
        with make_store() as store:
            store.append_batch([b"a", b"b", b"c"])
            with pytest.raises(StoreError) as err:
                call(store)
            assert err.value.field == field

    def test_checkpoints_are_kept_by_size(self, make_store: MakeStore) -> None:
        with make_store() as store:
            store.put_checkpoint(5, "five\n")
            store.put_checkpoint(2, "two\n")
            store.put_checkpoint(5, "five, cosigned\n")
            assert [(c.size, c.note) for c in store.checkpoints()] == [
                (2, "two\n"),
                (5, "five, cosigned\n"),
            ]
            latest = store.latest_checkpoint()
            assert latest is not None
            assert latest.size == 5

    def test_everything_survives_reopening(self, make_store: MakeStore, reopen: Reopen) -> None:
        store = make_store()
        store.append_batch([_data(i) for i in range(33)])
        store.put_checkpoint(33, "cp\n")
        root = store.root()
        store.close()
        with reopen(store) as again:
            assert again.size() == 33
            assert again.root() == root
            assert again.append(b"more") == 33
            assert again.root(33) == root
            assert [c.size for c in again.checkpoints()] == [33]

    def test_frontier_rebuilds_the_root(self, make_store: MakeStore) -> None:
        with make_store() as store:
            store.append_batch([_data(i) for i in range(21)])
            assert store.frontier().root() == store.root()
            assert store.frontier(13).root() == store.root(13)

    def test_closed_store_refuses_work(self, make_store: MakeStore) -> None:
        store = make_store()
        store.close()
        with pytest.raises(StoreError):
            store.append(b"late")
