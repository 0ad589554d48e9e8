"""The entry point as a new user meets it: the README's command run from the
repository root exactly as written (no MICROPYPATH), and a server name that
does not resolve (a failed registration attempt with the back-off, never a
crash) on the unix port."""
import os
import re
import signal
import subprocess

from devclient import DevClient, ROOT, stamps
from lwm2m_server import Server


def _clean_env():
    env = dict(os.environ)
    env.pop("MICROPYPATH", None)
    return env


def test_readme_command_from_repo_root():
    with Server(port=0) as srv:
        # the first line of README.md's "Running the client" command, as written
        readme = open(os.path.join(ROOT, "README.md")).read()
        block = readme.split("## Running the client", 1)[1].split("```sh\n", 1)[1]
        line = block.split("\n", 1)[0].rstrip(" \\")
        assert line.startswith(".venv/bin/micropython firmware/main.py --server coap://HOST:PORT"), line
        cmd = line.replace("HOST:PORT", "127.0.0.1:%d" % srv.port).replace("NAME", "readme-ep")
        p = subprocess.Popen(cmd.split(), cwd=ROOT, env=_clean_env(), stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True)
        try:
            srv.wait_registration("readme-ep", timeout=20)
            assert srv.read("readme-ep", "/3/0/0").code == "2.05"
        finally:
            p.send_signal(signal.SIGINT)
            out = p.communicate(timeout=20)[0]
        assert "ImportError" not in out and "Traceback" not in out, out
        assert "registered /" in out


def test_script_run_from_elsewhere(tmp_path):
    # the path fix does not depend on the working directory
    out = subprocess.run([os.path.join(ROOT, ".venv/bin/micropython"), os.path.join(ROOT, "firmware/main.py"),
                          "--server", "coap://127.0.0.1:9", "--endpoint", "x", "--clock", "virtual",
                          "--duration", "1", "--state", str(tmp_path)],
                         cwd=str(tmp_path), env=_clean_env(), capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "register coap://127.0.0.1:9" in out.stdout


def test_unresolvable_host_is_a_failed_attempt():
    # getaddrinfo raises OSError('[addrinfo error -2]') on the unix port: the
    # client logs it, backs off as after a timeout, tries again, and keeps running
    c = DevClient("coap://nonexistent.invalid:5683", "dns-fail", "--duration", "500")
    try:
        rc = c.p.wait(60)
        c.t.join(5)
        out = c.output()
        assert rc == 0, out
        assert "Traceback" not in out
        fails = stamps(c, "connect failed")
        retries = [int(x) for x in re.findall(r"retry in (\d+) ?s", out)]
        assert len(fails) >= 3 and "addrinfo error" in out
        # Communication Retry Timer (60 s) doubling, with up to 10 % jitter
        assert [r // 60 for r in retries[:3]] == [1, 2, 4], retries
        assert 60 <= fails[1] - fails[0] <= 67
    finally:
        c.kill()


def test_unresolvable_bootstrap_and_good_server():
    # one account unresolvable, the other one registers: the failure stays local
    with Server(port=0) as srv:
        c = DevClient("coap://127.0.0.1:%d" % srv.port, "dns-bs", "--bootstrap", "coap://nonexistent.invalid:5783")
        try:
            c.wait_line("registered", timeout=20)
            assert c.p.poll() is None
        finally:
            c.interrupt()
