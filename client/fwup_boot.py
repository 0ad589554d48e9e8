# Firmware Update: Update (/5/0/2), Cancel (/5/0/10), and the first step
# after a reset in Downloading (a pull goes on from the offset saved) or in
# Updating. Update is applied through the board's store (its applier():
# apply/reboot/booted/confirm/revert) after the 2.04 went out; the state is
# Updating (persisted) until the package runs. At the next start, in
# Updating, the store tells whether the new package runs (booted): then it
# counts once a server registered us on it (confirm, Update Result 1, the new
# PkgName/PkgVersion), else Update Result 8 (a reset before or during the
# apply, an image refused or rolled back). Either way an Update after the
# registration tells the server. A new image no server registers within
# 10 minutes is reverted (ESP32: the bootloader rolls back). Loaded on
# Update, Cancel and at such a start only.
from micropython import const
from client.codes import CoapError, METHOD_NOT_ALLOWED

_IDLE = const(0)        # State (/5/0/3)
_DOWNLOADED = const(2)
_UPDATING = const(3)
_OK = const(1)          # Update Result (/5/0/5)
_LOST = const(4)
_FAILED = const(8)
_CANCELLED = const(10)
_POLL_MS = const(1000)
_CONFIRM_MS = const(600000)     # a new image not registered within this rolls back
_APPLY_MS = const(100)  # Update is applied this long after the Execute (its 2.04 first)


def execute(up, rid):
    # Cancel (/5/0/10) from any state; Update (/5/0/2) in Downloaded. "t":
    # where an image goes, for booted() (the ESP32's next OTA partition),
    # persisted before anything changes
    if rid == 10:
        return up.reset(_CANCELLED)
    if up.i[3] != _DOWNLOADED:
        raise CoapError(METHOD_NOT_ALLOWED)
    up.rec["t"] = getattr(up.fs, "target", None)
    up.set(_UPDATING, 0)
    up.client.at(_APPLY_MS, lambda: _apply(up))


def _apply(up):
    if up.i[3] != _UPDATING:
        return
    st = up.fs.applier()
    try:
        st.apply(up.rec)
    except Exception as e:
        up.log("apply failed", e)
        up.set(_DOWNLOADED, _FAILED)
        return
    up.log("reboot into", up.rec.get("pv"))
    st.reboot()


def boot(up):
    # the first step after a reset in Downloading or Updating: a pull goes
    # on from the offset saved, a push is lost (the server starts again)
    if up.i[3] != _UPDATING:
        if up.rec.get("p"):
            return up.fail(_LOST)
        up.log("resume", up.rec.get("o", 0))
        return up._pull()
    ok = up.fs.applier().booted(up.rec)
    up.log("booted", ok)
    if not ok:
        up.set(_IDLE, _FAILED)
    up.due = up.board.clock.ms() + _CONFIRM_MS
    _tell(up, ok)


def _tell(up, ok):
    # once a server registered us: confirm a new package (ok), then an
    # Update tells the outcome; a new one never registered is reverted
    c = up.client
    r = up.rec
    if any(s.registered() for s in c.servers):
        if ok:
            up.fs.applier().confirm(r)
            i = up.i
            i[6] = r["n"] = r.get("pn", "")
            i[7] = r["v"] = r.get("pv", "")
            c.changed((5, 0, 6))
            c.changed((5, 0, 7))
            up.set(_IDLE, _OK)
            up.log("updated to", i[7])
        for s in c.servers:
            s.trigger()
    elif c.board.clock.ms() < up.due:
        c.at(_POLL_MS, lambda: _tell(up, ok))
    elif ok:
        up.log("never registered: roll back")
        st = up.fs.applier()
        st.revert(r)
        up.set(_IDLE, _FAILED)
        st.reboot()
