# Deep sleep: before the board powers down (radio off, a long wait ahead),
# the state that the configuration store does not hold goes to a file in the
# board's storage: every registration (location, what the server was told,
# when the next Update is due), the DTLS session or connection, and the
# reporter's observations, attributes, stored notifications and Sends. The
# next boot restores it and carries on offline: an application timer runs
# with the radio off, a radio deadline wakes it and the Update goes first.
# Times are kept relative to the moment of sleep and shifted by the RTC.
import os
from client.store import read, write

IMAGE = "sleep.img"


def hibernate(c, ms):
    b = c.board
    now = b.clock.ms()
    srv = []
    for s in c.servers:
        if s.sent and s.loc and s.state == 2:   # registered (client._OK)
            tr = s.ex.tr
            srv.append([s.ssid, s.loc, list(s.sent), s.due - now,
                        tr.save() if hasattr(tr, "save") else None, s.lport])
    r = c.reporter
    write(b.state, IMAGE, {"rtc": b.rtc_ms(), "srv": srv, "rep": r.dump(now) if r else None})
    c.log("deep sleep %ds" % (ms // 1000))


def restore(c):
    # True when the client came back from a deep sleep (the image is used once)
    b = c.board
    v = read(b.state, IMAGE)
    if v:
        try:
            os.remove(b.state + "/" + IMAGE)
        except OSError:
            pass
    if not v or not isinstance(v, dict):
        return False
    now = b.clock.ms()
    late = b.rtc_ms() - v["rtc"]
    for ssid, loc, sent, due, dtls, lport in v["srv"]:
        s = c.server(ssid)
        if s:
            s.lport = lport
            s.loc = loc
            s.sent = tuple(sent)
            s.state = 2
            s.due = now + due - late
            s.wake = True
            s.connect(dtls)
    if v["rep"]:
        c.rep().load(v["rep"], now - late, c.server)
    c.off_at = now
    b.radio = False
    c.log("restored after %ds" % (late // 1000))
    return True
