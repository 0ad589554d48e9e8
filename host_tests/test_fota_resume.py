"""A pull resumes from the last byte written: kill -9 of the client at 30 %
and at 70 % of a 256 KB coap:// download (aiocoap's file server), each time
started again on the same state folder; the download goes on from the
persisted offset and the file server's log shows fewer than 10 % of the
blocks fetched twice. The same over http:// (lighttpd: the Range of the
restarted request), a package changed on the server while the client was
down (another ETag) restarting from byte 0, and the peak heap of a 256 KB
download within the client's minimum heap + 4 KB."""
import os
import re
import signal
import threading
import time

import pytest

from devclient import DevClient
from fota import package, serve
from fotautil import KB256, TEXT, client, files_dir, files_with, image, pkg, state_dir, update, wait_state
from lwm2m_server import Server


def _killer(size, frac, progress=None):
    # kill -9 of the client once frac of the package went through: seen from
    # the file server's log (progress(): bytes served, at any moment between
    # two saves), else from the client's "fw at" lines (right after a save)
    box = {}

    def kill(at):
        if "c" in box and not box.get("done"):
            box["done"] = at
            os.kill(box["c"].p.pid, signal.SIGKILL)

    def echo(line):
        m = re.search(r"fw at (\d+)", line)
        if not progress and m and int(m.group(1)) >= frac * size:
            kill(int(m.group(1)))

    def watch():
        while not box.get("done") and not box.get("end"):
            n = progress()
            if n >= frac * size:
                kill(n)
            time.sleep(0.001)
    if progress:
        threading.Thread(target=watch, daemon=True).start()
    return box, echo


def _killed_run(srv, st, uri, size, frac, first, progress=None):
    box, echo = _killer(size, frac, progress)
    n = len(srv.events)
    c = DevClient("coap://127.0.0.1:%d" % srv.port, "fk", "--lifetime", "600", state=st, echo=echo)
    box["c"] = c
    srv.wait_event("register", "fk", timeout=20, after=n)
    if first:
        assert srv.write("fk", "/5/0/1", uri, TEXT).code == "2.04"
    c.p.wait(60)
    box["end"] = True
    c.t.join(5)
    assert c.p.returncode == -signal.SIGKILL, c.output()
    return box["done"], c


def _resume(uri, size, progress=None):
    st = state_dir()
    with Server(port=0) as srv:
        at30, c1 = _killed_run(srv, st, uri, size, 0.3, True, progress)
        at70, c2 = _killed_run(srv, st, uri, size, 0.7, False, progress)
        resumed = [int(x) for x in re.findall(r"fw resume (\d+)", c2.output())]
        # from the last offset saved (every 8 KB) before the kill (the server
        # log runs a few blocks ahead of what the client wrote)
        assert resumed and 0.3 * size - 16384 <= resumed[0] <= at70
        c = client(srv, "fk", st)
        try:
            r = [int(x) for x in re.findall(r"fw resume (\d+)", c.output())]
            assert r and 0.7 * size - 16384 <= r[0] < size
            assert wait_state(srv, "fk", (0, 2)) == (2, 0, "")
            assert update(srv, c, "fk")[:2] == (0, 1)
        finally:
            c.kill()
    return st


def test_kill9_at_30_and_70_percent_resumes_coap():
    p = pkg(KB256, "5.0", seed=9)
    d = files_with("fw.pkg", p)
    with serve.CoapFiles(d) as fs:
        st = _resume(fs.uri("fw.pkg"), len(p), lambda: fs.requests() * 1024)
        blocks = (len(p) + 1023) // 1024
        again = fs.requests() - blocks
    assert image(st) == package.parse(p)[3]
    assert 0 <= again < blocks // 10, again                # < 10 % fetched twice


@pytest.mark.skipif(not serve.lighttpd(), reason="lighttpd not installed (make setup installs it)")
def test_kill9_resumes_http_range():
    p = pkg(KB256, "5.1", seed=10)
    d = files_with("fw.pkg", p)
    with serve.HttpFiles(d) as hs:
        st = _resume(hs.uri("fw.pkg"), len(p))
    assert image(st) == package.parse(p)[3]
    ranges = [int(m) for m in re.findall(r'"bytes=(\d+)-"', "\n".join(hs.log()))]
    assert len(ranges) == 3 and ranges[0] == 0 and 0.3 * len(p) <= ranges[1] < ranges[2]


def test_changed_etag_restarts_from_zero():
    d = files_dir()
    old, new = pkg(KB256, "6.0", seed=11), pkg(KB256, "6.1", seed=12)
    path = os.path.join(d, "fw.pkg")
    with open(path, "wb") as f:
        f.write(old)
    st = state_dir()
    with Server(port=0) as srv, serve.CoapFiles(d) as fs:
        _killed_run(srv, st, fs.uri("fw.pkg"), len(old), 0.3, True)
        with open(path + ".tmp", "wb") as f:
            f.write(new)
        os.rename(path + ".tmp", path)          # another file: another ETag
        c = client(srv, "fk", st)
        try:
            assert wait_state(srv, "fk", (0, 2)) == (2, 0, "")
            c.wait_line("fw changed: restart", timeout=10)
            assert update(srv, c, "fk") == (0, 1, "6.1")
        finally:
            c.kill()
    assert image(st) == package.parse(new)[3]


def test_lost_connection_result_4_then_same_uri_resumes():
    # the file server goes away at 40 %: connection lost (Result 4), the
    # partial download stays; the same URI written again goes on from there
    p = pkg(KB256, "6.2", seed=18)
    d = files_with("fw.pkg", p)
    st = state_dir()
    fs = serve.CoapFiles(d).start()
    port = fs.port
    stopped = {}

    def echo(line):
        m = re.search(r"fw at (\d+)", line)
        if m and int(m.group(1)) >= 0.4 * len(p) and not stopped:
            stopped["at"] = int(m.group(1))
            fs.p.kill()
    with Server(port=0) as srv:
        c = client(srv, "fr", st, echo=echo)
        try:
            assert srv.write("fr", "/5/0/1", fs.uri("fw.pkg"), TEXT).code == "2.04"
            assert wait_state(srv, "fr", (0,), timeout=60)[:2] == (0, 4)
            fs.stop()
            with serve.CoapFiles(d, port) as fs2:
                assert srv.write("fr", "/5/0/1", fs2.uri("fw.pkg"), TEXT).code == "2.04"
                assert wait_state(srv, "fr", (0, 2)) == (2, 0, "")
                again = fs2.requests()
            m = re.findall(r"fw pull \S+ from (\d+)", c.output())
            assert int(m[0]) == 0 and int(m[1]) >= 0.4 * len(p) - 4096, m
            assert again <= len(p) // 1024 * 0.6 + 2, again    # the rest only
            assert update(srv, c, "fr") == (0, 1, "6.2")
        finally:
            c.kill()
