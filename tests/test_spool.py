"""The spool and the sequence store on a real filesystem."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from agent.daemon.seqstore import SeqStore, parse_instance
from agent.daemon.spool import Spool, file_name
from agent.errors import DeliveryError


def _doc(seq: int, dropped: int = 0, pad: int = 0) -> bytes:
    return json.dumps({"seq": seq, "spool": {"dropped": dropped}, "pad": "x" * pad}).encode()


def test_put_and_send_in_order_survives_reopen(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 100, 10**6)
    for seq in (1, 2, 3):
        spool.put(seq, _doc(seq))
    assert spool.oldest() == (1, _doc(1))
    spool.remove(1)
    reopened = Spool(tmp_path / "spool", 100, 10**6)
    assert reopened.seqs() == [2, 3]
    assert reopened.size_bytes == len(_doc(2)) + len(_doc(3))
    assert reopened.max_seq() == 3


def test_leftover_temp_files_are_removed_at_start(tmp_path: Path) -> None:
    directory = tmp_path / "spool"
    Spool(directory, 10, 10**6).put(1, _doc(1))
    (directory / f".{file_name(2)}.tmp").write_bytes(b'{"seq": 2, "trunc')
    spool = Spool(directory, 10, 10**6)
    assert spool.seqs() == [1]
    assert sorted(p.name for p in directory.iterdir()) == [file_name(1), "rejected"]


def test_full_by_count_drops_oldest_and_counts(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 3, 10**6)
    for seq in range(1, 6):
        spool.put(seq, _doc(seq))
    assert spool.seqs() == [3, 4, 5]
    assert spool.dropped == 2
    # A heartbeat carrying the count is spooled: nothing left to report.
    spool.reported_dropped(2)
    assert spool.dropped == 0
    # The count is persisted across a restart.
    spool.put(6, _doc(6))
    assert Spool(tmp_path / "spool", 3, 10**6).dropped == 1


def test_dropping_a_heartbeat_that_reported_drops_carries_its_count(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 2, 10**6)
    spool.put(1, _doc(1, dropped=7))
    spool.put(2, _doc(2))
    spool.put(3, _doc(3))
    assert spool.seqs() == [2, 3]
    assert spool.dropped == 1 + 7


def test_full_by_bytes(tmp_path: Path) -> None:
    size = len(_doc(1, pad=400))
    spool = Spool(tmp_path / "spool", 1000, size * 2 + 10)
    for seq in range(1, 5):
        spool.put(seq, _doc(seq, pad=400))
    assert spool.seqs() == [3, 4]
    assert spool.size_bytes <= size * 2 + 10


def test_reject_moves_aside_with_reason(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10, 10**6)
    spool.put(1, _doc(1))
    spool.put(2, _doc(2))
    spool.reject(1, "HTTP 422: seq: must be >= 1")
    assert spool.seqs() == [2]
    rejected = tmp_path / "spool" / "rejected"
    assert (rejected / file_name(1)).read_bytes() == _doc(1)
    assert (rejected / f"{1:016d}.reason").read_text() == "HTTP 422: seq: must be >= 1\n"
    spool.remove(2)
    # Rejected numbers are never reused either.
    assert Spool(tmp_path / "spool", 10, 10**6).max_seq() == 1


def test_out_of_order_put_is_a_bug(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10, 10**6)
    spool.put(5, _doc(5))
    with pytest.raises(AssertionError):
        spool.put(5, _doc(5))


def test_oldest_skips_a_file_removed_behind_its_back(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool", 10, 10**6)
    spool.put(1, _doc(1))
    spool.put(2, _doc(2))
    (tmp_path / "spool" / file_name(1)).unlink()
    assert spool.oldest() == (2, _doc(2))


def test_seq_store_persists_and_only_increases(tmp_path: Path) -> None:
    path = tmp_path / "state" / "seq"
    store = SeqStore(path)
    assert store.peek_next() == 1
    store.commit(1)
    store.commit(2)
    assert SeqStore(path).last == 2
    store.raise_to(1)  # never lowers
    assert SeqStore(path).peek_next() == 3
    store.raise_to(10)
    assert SeqStore(path).peek_next() == 11
    with pytest.raises(AssertionError):
        store.commit(5)


def test_corrupt_seq_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    path.write_text("12abc")
    with pytest.raises(DeliveryError, match="corrupt"):
        SeqStore(path)


def test_instance_id_is_made_with_the_counter_and_kept(tmp_path: Path) -> None:
    path = tmp_path / "state" / "seq"
    store = SeqStore(path)
    instance = store.instance
    assert re.fullmatch(r"[0-9a-f]{32}", instance)
    # On disk before any heartbeat carries it (no commit yet).
    assert (tmp_path / "state" / "instance").read_text() == instance + "\n"
    store.commit(1)
    assert SeqStore(path).instance == instance


def test_wiped_state_dir_gives_a_new_instance_and_seq_from_1(tmp_path: Path) -> None:
    path = tmp_path / "state" / "seq"
    first = SeqStore(path)
    for seq in (1, 2, 3):
        first.commit(seq)
    shutil.rmtree(tmp_path / "state")
    again = SeqStore(path)
    assert again.peek_next() == 1 and again.instance != first.instance


def test_upgrade_from_a_seq_file_without_instance_gets_a_new_id(tmp_path: Path) -> None:
    path = tmp_path / "seq"
    path.write_text("41\n")  # as 0.1.0 left it
    store = SeqStore(path)
    assert store.peek_next() == 42
    assert (tmp_path / "instance").read_text().strip() == store.instance


@pytest.mark.parametrize("content", ["", "not hex\n", "ABCDEF" * 6, "0" * 31])
def test_damaged_instance_file_is_replaced(tmp_path: Path, content: str) -> None:
    path = tmp_path / "seq"
    path.write_text("5\n")
    (tmp_path / "instance").write_text(content)
    store = SeqStore(path)
    assert store.instance != content.strip() and parse_instance(store.instance) == store.instance
    assert store.peek_next() == 6


def test_instance_without_counter_is_not_reused(tmp_path: Path) -> None:
    # The counter starts again at 1: the old id with it would make the collector see replays.
    path = tmp_path / "seq"
    (tmp_path / "instance").write_text("0123456789abcdef0123456789abcdef\n")
    assert SeqStore(path).instance != "0123456789abcdef0123456789abcdef"


def test_parse_instance() -> None:
    assert parse_instance("0123456789abcdef0123456789abcdef\n") == "0123456789abcdef0123456789abcdef"
    assert parse_instance(None) is None
    assert parse_instance("0123456789ABCDEF0123456789ABCDEF") is None
