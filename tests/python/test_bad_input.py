"""Bad arguments raise ValueError or TypeError and change nothing."""

from __future__ import annotations

import os

import pytest

import libcommit

BAD_PGNOS = [0, -1, 2**32, 2**64, -(2**70)]
WRONG_PGNO_TYPES = ["1", 1.0, None, b"1", [1]]


@pytest.mark.parametrize("pgno", BAD_PGNOS)
def test_bad_pgno_value(db, pgno):
    with pytest.raises(ValueError) as info:
        db.read(pgno)
    assert info.value.status == libcommit.Status.INVALID_ARGUMENT
    assert str(info.value).startswith("read:")
    with pytest.raises(ValueError):
        db.commit({pgno: b"x"})
    txn = db.begin()
    with pytest.raises(ValueError):
        txn.read(pgno)
    with pytest.raises(ValueError):
        txn.write(pgno, b"x")
    with pytest.raises(ValueError):
        txn.delete(pgno)
    txn.abort()


@pytest.mark.parametrize("pgno", WRONG_PGNO_TYPES, ids=repr)
def test_wrong_pgno_type(db, pgno):
    with pytest.raises(TypeError):
        db.read(pgno)
    with pytest.raises(TypeError):
        db.commit([(pgno, b"x")])
    txn = db.begin()
    with pytest.raises(TypeError):
        txn.write(pgno, b"x")
    with pytest.raises(TypeError):
        txn.delete(pgno)
    txn.abort()


def test_largest_pgno_is_valid(db):
    assert db.read(2**32 - 1) is None


@pytest.mark.parametrize("data", ["text", 12, 1.5, object(), [1, 2]], ids=repr)
def test_wrong_data_type(db, data):
    with pytest.raises(TypeError):
        db.commit({1: data})
    with db.begin() as txn:
        with pytest.raises(TypeError):
            txn.write(1, data)
    assert db.read(1) is None


def test_oversized_image(db):
    with pytest.raises(ValueError) as info:
        db.commit({1: b"x" * 4097})
    assert info.value.status == 6
    with db.begin() as txn:
        with pytest.raises(ValueError):
            txn.write(1, bytearray(4097))
    assert db.read(1) is None


def test_one_bad_entry_rejects_the_batch(db):
    db.commit({1: b"before"})
    with pytest.raises(ValueError):
        db.commit({1: b"after", 0: b"bad"})
    with pytest.raises(ValueError):
        db.commit([(1, b"after"), (2, b"x" * 5000)])
    with pytest.raises(TypeError):
        db.commit([(1, b"after"), (2, "str")])
    assert db.read(1) == b"before"
    assert db.read(2) is None
    assert db.stats()["last_commit_seq"] == 1


@pytest.mark.parametrize(
    "writes",
    ["abc", b"abc", bytearray(b"ab"), 12, None, [(1,)], [(1, b"a", 2)], [1], [b"ab"], {1}],
    ids=repr,
)
def test_wrong_writes_shape(db, writes):
    with pytest.raises(TypeError):
        db.commit(writes)
    assert db.stats()["last_commit_seq"] == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_size": 1000},
        {"page_size": 256},
        {"page_size": 131072},
        {"page_size": 0},
        {"page_size": -4096},
        {"page_size": 2**40},
        {"sync": "always"},
        {"sync": ""},
        {"mode": "journal"},
        {"isolation": "read_committed"},
        {"lanes": 100000},
        {"max_flush_delay_us": 10**9},
        {"busy_timeout_ms": -1},
    ],
    ids=repr,
)
def test_bad_option_values(path, kwargs):
    with pytest.raises(ValueError):
        libcommit.open(path, **kwargs)
    assert not os.path.exists(path)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"page_size": "4096"},
        {"page_size": 4096.0},
        {"sync": 0},
        {"mode": 1},
        {"isolation": b"snapshot"},
        {"lanes": "1"},
        {"max_flush_delay_us": 1.5},
        {"busy_timeout_ms": "5"},
        {"read_only": "yes"},
        {"read_only": 1},
    ],
    ids=repr,
)
def test_wrong_option_types(path, kwargs):
    with pytest.raises(TypeError):
        libcommit.open(path, **kwargs)
    assert not os.path.exists(path)


def test_options_are_keyword_only(path):
    with pytest.raises(TypeError):
        libcommit.open(path, 4096)  # type: ignore[misc]
    with pytest.raises(TypeError):
        libcommit.open(path, pagesize=4096)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        libcommit.recover(path, True)  # type: ignore[misc]


@pytest.mark.parametrize("bad_path", [12, None, 1.5, ["a"]], ids=repr)
def test_wrong_path_type(bad_path):
    with pytest.raises(TypeError):
        libcommit.open(bad_path)
    with pytest.raises(TypeError):
        libcommit.recover(bad_path)


def test_bad_path_value(tmp_path):
    with pytest.raises(ValueError):
        libcommit.open("")
    with pytest.raises(ValueError):
        libcommit.open(str(tmp_path / "nul\0byte.db"))


def test_missing_directory(tmp_path):
    with pytest.raises(libcommit.Error) as info:
        libcommit.open(str(tmp_path / "no" / "such" / "dir.db"))
    assert str(info.value).startswith("open:")
    assert not os.path.exists(tmp_path / "no")


def test_not_a_database(tmp_path):
    path = tmp_path / "garbage.db"
    junk = b"this is not a libcommit database\n" * 500
    path.write_bytes(junk)
    with pytest.raises(libcommit.Error):
        libcommit.open(str(path))
    assert path.read_bytes() == junk


def test_transaction_type_checks_do_not_finish_it(db):
    with db.begin() as txn:
        with pytest.raises(TypeError):
            txn.write(1, "str")
        with pytest.raises(ValueError):
            txn.write(0, b"x")
        txn.write(1, b"still usable")
    assert db.read(1) == b"still usable"
