"""firmware/main.py as a command line: --help lists every option, a bad
option or value is one line naming it with exit code 2, CoAP codes come with
their reason phrase, a server that does not answer is reported, SIGTERM
(through tools/mprun.py) de-registers like SIGINT, and a second Ctrl-C
during the De-register exits without a traceback."""
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from devclient import DevClient, ROOT, MICROPYTHON, free_port, stamps
from lwm2m_server import Server

MAIN = os.path.join(ROOT, "firmware", "main.py")


def _run(*args, timeout=30):
    return subprocess.run([MICROPYTHON, MAIN] + list(args), capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def _option_names():
    src = open(MAIN).read()
    return re.findall(r'^    \("([a-z-]+)", ', src, re.M)


def test_help_lists_every_option():
    p = _run("--help")
    assert p.returncode == 0 and p.stderr == ""
    names = _option_names()
    assert len(names) >= 15
    for n in names:
        assert re.search(r"^  --%s\b" % re.escape(n), p.stdout, re.M), n


@pytest.mark.parametrize("args,names", [
    (["--bogus"], "--bogus"),
    (["server"], "server"),
    (["--lifetime"], "--lifetime"),
    (["--lifetime", "abc"], "--lifetime"),
    (["--lifetime", "0"], "--lifetime"),
    (["--lifetime", "--quiet"], "--lifetime"),
    (["--server", "http://x"], "--server"),
    (["--server", "localhost"], "--server"),
    (["--bootstrap", "coap://"], "--bootstrap"),
    (["--clock", "fast"], "--clock"),
    (["--binding", "X"], "--binding"),
    (["--awake", "soon"], "--awake"),
    (["--duration", "-1"], "--duration"),
    (["--deep", "x"], "--deep"),
    (["--psk-key", "xyz"], "--psk-key"),
    (["--psk-key", "abc"], "--psk-key"),
    (["--format", "42"], "--format"),
    (["--endpoint"], "--endpoint"),
    (["--server", "coap://127.0.0.1:9", "--app", "no_such_app"], "--app"),
    (["--server", "coap://127.0.0.1:9", "--app", "client.codes"], "--app"),     # no start()
])
def test_bad_option_is_one_line_and_exit_2(args, names):
    p = _run(*args)
    assert p.returncode == 2, (args, p.returncode, p.stdout, p.stderr)
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and names in lines[0] and "Traceback" not in p.stderr, p.stderr
    assert p.stdout == ""


def _rejecting_server(code):
    # a CoAP "server" that answers every confirmable request with code (piggybacked ACK)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.2)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                d, a = s.recvfrom(2048)
            except OSError:
                continue
            if len(d) >= 4 and d[0] >> 4 & 3 == 0:
                tkl = d[0] & 15
                s.sendto(bytes([0x60 | tkl, code]) + d[2:4] + d[4:4 + tkl], a)
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return s, stop


def test_codes_with_reason_phrase_and_no_answer_line():
    s, stop = _rejecting_server(0x80)   # 4.00
    try:
        c = DevClient("coap://127.0.0.1:%d" % s.getsockname()[1], "codes", "--duration", "200")
        c.wait_line("register failed")
        assert re.search(r"register failed 4\.00 Bad Request retry in \d+ s", c.output()), c.output()
        c.kill()
    finally:
        stop.set()
        s.close()
    port = free_port()
    c = DevClient("coap://127.0.0.1:%d" % port, "silent", "--duration", "200")
    try:
        # early (10 s), while the CoAP retransmissions go on, then when the attempt is given up
        c.wait_line("no answer from coap://127.0.0.1:%d yet, retransmitting" % port)
        assert 10 <= stamps(c, "no answer from")[0] < 10.5
        i = c.wait_line("retry in")
        assert re.search(r"no answer from coap://127\.0\.0\.1:%d, retry in \d+ s" % port, c.lines[i])
    finally:
        c.kill()


def test_sigterm_through_mprun_deregisters():
    with Server(port=0) as srv:
        p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "mprun.py"), MAIN,
                              "--server", "coap://127.0.0.1:%d" % srv.port, "--endpoint", "term"],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            srv.wait_registration("term", timeout=20)
            n = len(srv.events)
            p.send_signal(signal.SIGTERM)
            srv.wait_event("deregister", "term", after=n, timeout=20)
            out = p.communicate(timeout=20)[0]
        finally:
            if p.poll() is None:
                p.kill()
        assert p.returncode == 0 and "deregistered" in out and "Traceback" not in out, out


def test_second_ctrl_c_exits_quietly():
    srv = Server(port=0).start()
    c = DevClient("coap://127.0.0.1:%d" % srv.port, "twice", clock="real")
    try:
        srv.wait_registration("twice", timeout=20)
        srv.stop()          # the De-register will wait for an answer that never comes
        c.p.send_signal(signal.SIGINT)
        c.wait_line("interrupted")
        time.sleep(0.3)
        c.p.send_signal(signal.SIGINT)
        rc = c.p.wait(10)
        c.t.join(5)
    finally:
        c.kill()
        srv.stop()
    out = c.output()
    assert rc != 0 and "Traceback" not in out and "KeyboardInterrupt" not in out, out
