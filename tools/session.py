"""The scripted LwM2M session shown by `make run` and measured by `make bench`:
register -> read /3/0 -> write lifetime -> execute -> discover -> de-register."""
import re

TLV, TEXT = 11542, 0


def run_session(srv, client, ep, say=print, timeout=20):
    """Drive one session against a started client; returns a dict of results."""
    reg = srv.wait_registration(ep, timeout=timeout)
    say("== registered: %s lifetime=%s binding=%s" % (reg.location, reg.lifetime, reg.binding))
    r = srv.read(ep, "/3/0", accept=TLV, timeout=timeout)
    say("== read /3/0 -> %s, %d bytes of TLV (decoded above)" % (r.code, len(r.payload)))
    n = len(srv.events)
    r = srv.write(ep, "/1/0/1", b"120", TEXT, timeout=timeout)
    say("== write /1/0/1 (lifetime) = 120 -> %s" % r.code)
    srv.wait_event("update", ep, after=n, timeout=timeout)
    say("== the client sent an Update: lifetime now %s" % srv.registration(ep).lifetime)
    n = len(srv.events)
    r = srv.execute(ep, "/1/0/8", timeout=timeout)
    say("== execute /1/0/8 (registration update trigger) -> %s" % r.code)
    srv.wait_event("update", ep, after=n, timeout=timeout)
    r = srv.discover(ep, "/3/0", timeout=timeout)
    say("== discover /3/0 -> %s %s" % (r.code, r.payload.decode()))
    n = len(srv.events)
    client.interrupt(timeout)
    srv.wait_event("deregister", ep, after=n, timeout=timeout)
    say("== de-registered")
    m = re.search(r"bytes up=(\d+) down=(\d+)", client.output())
    return {"session_bytes_up": int(m.group(1)), "session_bytes_down": int(m.group(2))} if m else {}
