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
from client.report import Obs

IMAGE = "sleep.img"


def dump(r, now):
    # the Reporter r's state: [observations, stored notifications, attributes, Sends]; times
    # relative to now (ms, <= 0). An observation: [ssid, token, paths,
    # accept, composite, seq, last, last CON, last evaluation, value,
    # dirty, active] (inactive: ended by a final 4.xx still stored);
    # a stored notification: [observation index, seq, code, cf, payload, ms]
    obs = list(r.obs)
    for p in r.pend:
        if p[0] not in obs:
            obs.append(p[0])
    return [[[o.srv.ssid, o.token, [list(p) for p in o.paths], o.acc, o.comp, o.seq,
              o.last - now, o.con - now, o.eval - now, o.val, o.dirty, o in r.obs] for o in obs],
            [[obs.index(p[0])] + p[1:5] + [p[5] - now] for p in r.pend],
            [[k[0], list(k[1]), v] for k, v in r.attrs.items()],
            [[[list(p) for p in ps], cf] for ps, cf in r.sends]]

def load(r, d, now, server):
    # dump()'s data back into Reporter r; now: this clock's reading for the moment of the
    # dump (time slept taken off); server(ssid) -> Server or None (its
    # observations are dropped)
    obs = []
    r.obs = []
    for x in d[0]:
        s = server(x[0])
        o = Obs(s, x[1], [tuple(p) for p in x[2]], x[3], x[4])
        o.seq, o.val, o.dirty = x[5], x[9], x[10]
        o.last, o.con, o.eval = now + x[6], now + x[7], now + x[8]
        obs.append(o)
        if s and x[11]:
            r.obs.append(o)
    r.pend = [[obs[x[0]]] + x[1:5] + [now + x[5]] for x in d[1] if obs[x[0]].srv]
    r.attrs = {(x[0], tuple(x[1])): x[2] for x in d[2]}
    r.sends = [([tuple(p) for p in x[0]], x[1]) for x in d[3]]


def hibernate(c, ms):
    b = c.board
    now = b.clock.ms()
    srv = []
    for s in c.servers:
        if s.sent and s.loc and s.settled():
            tr = s.ex.tr
            srv.append([s.ssid, s.loc, list(s.sent), s.due - now,
                        tr.save() if hasattr(tr, "save") else None, s.lport])
    r = c.reporter
    v = {"rtc": b.rtc_ms(), "srv": srv, "rep": dump(r, now) if r else None}
    if not (hasattr(b, "keep") and b.keep(v)):     # the board's RTC memory, else a file
        write(b.state, IMAGE, v)
    c.log("deep sleep %ds" % (ms // 1000))


def restore(c):
    # True when the client came back from a deep sleep (the image is used once)
    b = c.board
    v = (hasattr(b, "kept") and b.kept()) or read(b.state, IMAGE)
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
            s.restore(loc, sent, now + due - late, lport, dtls)
    if v["rep"]:
        load(c.rep(), v["rep"], now - late, c.server)
    c.off_at = now
    b.radio = False
    c.log("restored after %ds" % (late // 1000))
    return True
