"""Allocation-free steady state (issue 13): each hot path runs under
micropython.heap_lock() on the unix port and the heap does not grow by a
byte over one run (tools/bench/alloc_probe.py: parse, Read of a resource and of
/3/0 in TLV and SenML CBOR served from the receive buffer and answered over
the socket, a notification NON and CON, a CON retransmission, a DTLS record
out and in (the record layer, and a connected Dtls' send() and recv(buf)),
a step's read with nothing waiting). The unix port's socket
read of a datagram is the one allocation left: it has no recv_into."""
import pytest

from bench.alloc import probe

CASES = ["parse", "read_res", "read_res_senml", "read_3_0_tlv", "read_3_0_senml",
         "notify", "notify_3_0_tlv", "notify_con", "retransmit", "dtls_record", "dtls_session",
         "idle_poll"]


@pytest.fixture(scope="module")
def figures():
    return probe(CASES)


@pytest.mark.parametrize("case", CASES)
def test_heap_locked(figures, case):
    grew, locked_ok = figures[case]
    assert locked_ok, "%s allocates under heap_lock" % case
    assert grew == 0, "%s: the heap grew by %d bytes" % (case, grew)


def test_serve_read_3_0_is_fast():
    # a generous bound on a loaded machine; make bench reports the figure
    us = probe(["read_3_0_us"])["read_3_0_us"]
    assert 0 < us < 2000
