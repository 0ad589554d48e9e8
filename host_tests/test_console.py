"""The dev server's console (tools/lwm2m_server.py, devserver/console.py):
a session of commands through stdin (--script -) against the example
application on the unix port, every payload decoded; and the interactive
console on a pseudo-terminal (prompt, help, history, quit)."""
import os
import pty
import select
import subprocess
import sys
import threading
import time

from devclient import DevClient, ROOT, free_port


class Proc(DevClient):
    """The server as a subprocess, its output lines collected as DevClient's
    (the reader thread and wait_line are DevClient's)."""

    def __init__(self, *args):
        self.lines, self.echo, self.cv = [], None, threading.Condition()
        self.p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "lwm2m_server.py")] + list(args),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  text=True, bufsize=1, cwd=ROOT)
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def wait(self, text, after=0, timeout=20):
        return self.wait_line(text, timeout, after)

    def cmd(self, line, expect, timeout=20):
        """Send a command; the index of the first line containing each expected text after it."""
        n = len(self.lines)
        self.p.stdin.write(line + "\n")
        self.p.stdin.flush()
        start = self.wait("lwm2m> " + line, n, timeout)
        return [self.wait(e, start, timeout) for e in ([expect] if isinstance(expect, str) else expect)]


def test_console_session_through_stdin():
    port = free_port()
    s = Proc("--port", str(port), "--script", "-")
    c = None
    try:
        s.wait("listening on")
        c = DevClient("coap://127.0.0.1:%d" % port, "con", "--app", "firmware.app_example")
        s.wait("* registered con at /rd/")
        s.cmd("list", ["con /rd/", "/33000/0"])
        s.cmd("read con /3/0", ["<- 2.05 Content (application/vnd.oma.lwm2m+tlv)", "res 0 = 'lwm2m-mpy'",
                                "res 16 = 'UQ'", "(time)"])
        s.cmd("read con /1/0 senml-json", ["<- 2.05 Content (application/senml+json)", "/1/0/1 v=300",
                                           '/1/0/7 vs="U"'])
        s.cmd("read con /1/0/1 text", ["<- 2.05 Content (text/plain)", "   300"])
        s.cmd("read con /3/0 senml-cbor", ["<- 2.05 Content (application/senml+cbor)", '/3/0/0 vs="lwm2m-mpy"'])
        s.cmd("write con /33000/0/0 1", "<- 2.04 Changed")
        c.wait_line("valve 0 open (bool)")
        s.cmd("write con /33000/0/1 42 tlv", "<- 2.04 Changed")
        c.wait_line("valve 0 limit 42 (int)")
        s.cmd("write con /33000/0/1 420", "<- 4.00 Bad Request")
        s.cmd("exec con /33000/0/2 \"0='5'\"", "<- 2.04 Changed")
        c.wait_line("valve 0 flush 5 s")
        s.cmd("exec con /33000/0/2 \"0='fail'\"", "<- 5.00 Internal Server Error")
        s.cmd("discover con /33000", ["<- 2.05 Content (application/link-format)", "</33000/0/2>"])
        s.cmd("attr con /3303/0/5700 pmin=1&pmax=5", "<- 2.04 Changed")
        s.cmd("observe con /3303/0/5700", ["<- 2.05 Content", "observing con /3303/0/5700",
                                           "* notify con /3303/0/5700 #1 2.05 Content"])
        s.cmd("cancel con /3303/0/5700", "<- 2.05 Content")
        s.cmd("create con /3303", "<- 2.01 Created")
        s.cmd("read con /3303/1 json", ["<- 2.05 Content (application/vnd.oma.lwm2m+json)", '"bn"'])
        s.cmd("delete con /3303/1", "<- 2.02 Deleted")
        s.cmd("read con /9/9", "<- 4.04 Not Found")
        s.cmd("read nobody /3/0", "error: ep=nobody is not registered")
        s.cmd("read con", "error: wrong arguments (help read)")
        s.cmd("bogus", "unknown command 'bogus'")
        s.cmd("help", ["Documented commands", "observe", "discover", "fota", "history"])
        s.cmd("help read", "read EP PATH [FORMAT]")
        s.cmd("history", ["  1  list", "  2  read con /3/0"])
        s.cmd("quit", "[server] stopped")
        assert s.p.wait(20) == 0
    finally:
        if c:
            c.kill()
        if s.p.poll() is None:
            s.p.kill()
    out = "\n".join(s.lines)
    assert "Traceback" not in out and "(int " not in out


def test_console_on_a_terminal():
    port = free_port()
    master, slave = pty.openpty()
    p = subprocess.Popen([sys.executable, os.path.join(ROOT, "tools", "lwm2m_server.py"), "--port", str(port)],
                         stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, close_fds=True)
    os.close(slave)
    buf = b""

    def expect(text, timeout=20):
        nonlocal buf
        end = time.monotonic() + timeout
        while text.encode() not in buf:
            if time.monotonic() > end:
                raise TimeoutError("no %r in %r" % (text, buf[-2000:]))
            r, _, _ = select.select([master], [], [], 0.2)
            if r:
                try:
                    buf += os.read(master, 4096)
                except OSError:
                    break
        i = buf.index(text.encode()) + len(text)
        buf = buf[i:]

    try:
        expect('"help" lists the commands')
        expect("lwm2m> ")
        os.write(master, b"list\n")
        expect("no client registered")
        os.write(master, b"help\n")
        expect("Documented commands")
        os.write(master, b"read\n")
        expect("error: wrong arguments (help read)")
        os.write(master, b"history\n")
        expect("  1  list")
        os.write(master, b"\x1b[A\n")       # up-arrow: the last command again (readline)
        expect("  4  history")
        os.write(master, b"quit\n")
        expect("stopped")
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)


def test_console_fota_push_and_pull(tmp_path):
    fw = tmp_path / "fw.bin"
    fw.write_bytes(os.urandom(5000))
    port = free_port()
    s = Proc("--port", str(port), "--script", "-")
    cs = []
    try:
        s.wait("listening on")
        for ep in ("fpush", "fpull"):
            (tmp_path / ep).mkdir()
            cs.append(DevClient("coap://127.0.0.1:%d" % port, ep, "--lifetime", "86400", state=str(tmp_path / ep), clock="real"))
            s.wait("* registered %s" % ep)
        s.cmd("fota push fpush %s" % fw, ["push 100%", "<- 2.04 Changed"])
        i = s.cmd("read fpush /5/0/3 text", "<- 2.05 Content")[0]
        assert s.lines[s.wait("", i + 1)].strip() == "2"       # Downloaded
        s.cmd("fota pull fpull %s" % fw, ["serving coap://127.0.0.1:", "<- 2.04 Changed"])
        for _ in range(50):     # the client downloads it: state 2 (Downloaded)
            i = s.cmd("read fpull /5/0/3 text", "<- 2.05 Content")[0]
            if s.lines[s.wait("", i + 1)].strip() == "2":
                break
            time.sleep(0.2)
        else:
            raise AssertionError("fpull did not download")
        s.cmd("quit", "[server] stopped")
    finally:
        for c in cs:
            c.kill()
        if s.p.poll() is None:
            s.p.kill()


def test_cli_web_option_serves_the_page():
    import json
    import re
    import urllib.request
    s = Proc("--port", str(free_port()), "--no-console", "--web", "127.0.0.1:0")
    try:
        line = s.lines[s.wait("web page on http://")]
        url = re.search(r"(http://[\d.]+:\d+/)", line).group(1)
        assert b"LwM2M dev server" in urllib.request.urlopen(url, timeout=10).read()
        assert json.loads(urllib.request.urlopen(url + "api/clients", timeout=10).read()) == []
    finally:
        s.p.terminate()
        s.p.wait(20)
    assert "[server] stopped" in "\n".join(s.lines)
