"""The local replicator appends to the log and commits by fsync."""

from __future__ import annotations

import pytest
from propolis.log.errors import LogClosedError
from propolis.log.replicator import LocalReplicator, Replicator
from propolis.log.segmented_log import Log


def test_the_local_replicator_appends_batches_and_commits_them_durably(tmp_path):
    with Log.open(tmp_path) as log:
        replicator = LocalReplicator(log)
        assert isinstance(replicator, Replicator)
        assert replicator.is_leader
        assert replicator.replicate([b"a", b"b"]) == 1
        assert replicator.replicate([b"c"]) == 3
        assert replicator.committed_position == 0
        assert replicator.commit() == 3
        assert replicator.committed_position == log.durable_position == 3


def test_a_closed_replicator_refuses_batches_but_leaves_the_log_open(tmp_path):
    with Log.open(tmp_path) as log:
        replicator = LocalReplicator(log)
        replicator.close()
        assert not replicator.is_leader
        with pytest.raises(LogClosedError):
            replicator.replicate([b"a"])
        assert log.append_batch([b"a"]) == 1
