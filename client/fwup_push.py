# Firmware Update push: the Package (/5/0/0) written block by block with
# Block1 (client/block.py hands each block of the object's SINK resource to
# objects/firmware.py's block()), or whole in one request. Each block goes
# straight to the store through client/fwup.py's sink; a new block 0
# restarts the transfer (RFC 7959 2.5), a repeated block is answered again
# without writing it, a push silent for 60 s is a lost connection.
# Loaded on the first block of a push.
from micropython import const
from client.coap import Msg
from client.codes import (BAD_REQUEST, CoapError, REQUEST_ENTITY_INCOMPLETE, REQUEST_ENTITY_TOO_LARGE,
                          SIZE1)

_IDLE = const(0)        # State (/5/0/3)
_DOWNLOADING = const(1)
_NO_FLASH = const(2)    # Update Result (/5/0/5)
_LOST = const(4)
_POLL_MS = const(1000)
_PUSH_MS = const(60000)     # a push silent this long has lost its connection
_HDR_MAX = const(600)       # a package's size beyond its payload's: the header (client/fwup.py)


def block(up, num, size, more, data, size1):
    # one block of a pushed Package: None, or the error response
    r = up.rec
    if num == 0:
        if not more and len(data) == 1 and data[0] == 0:
            return up.reset()
        if up.dl or up.i[3] not in (_IDLE, _DOWNLOADING):
            raise CoapError(BAD_REQUEST)
        up.stop(True)
        up.i[1] = ""
        r["p"] = 1
        up.set(_DOWNLOADING, 0)
        cap = up.fs.cap
        if size1 and size1 > cap + _HDR_MAX:
            up.fail(_NO_FLASH)
            return Msg(code=REQUEST_ENTITY_TOO_LARGE).add(SIZE1, cap)
        up.open()
        up.last = up.board.clock.ms()
        up.client.at(_POLL_MS, lambda: _quiet(up))
    if not up.on or not r.get("p"):
        raise CoapError(REQUEST_ENTITY_INCOMPLETE)
    at = num * size
    if at + len(data) == up.off and num:
        return None     # a repeated block (our answer got lost)
    if at != up.off:
        raise CoapError(REQUEST_ENTITY_INCOMPLETE)
    up.last = up.board.clock.ms()
    if not up.feed(data):
        return Msg(code=REQUEST_ENTITY_TOO_LARGE if up.i[5] == _NO_FLASH else BAD_REQUEST)
    if not more:
        up.done()
    return None


def whole(up, data):
    # a whole Package in one request
    r = block(up, 0, 1024, 0, data, None)
    if r:
        raise CoapError(r.code)


def _quiet(up):
    # a push silent for _PUSH_MS: connection lost. Looked at every second
    # (a virtual clock then moves in steps of a second while it waits)
    if up.on and up.rec.get("p"):
        t = up.last + _PUSH_MS - up.board.clock.ms()
        if t <= 0:
            up.fail(_LOST)
        else:
            up.client.at(min(t, _POLL_MS), lambda: _quiet(up))
