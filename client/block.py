# Block-wise transfer (RFC 7959) on the serving side: Block2 slices large
# responses (stateless: the representation is made again per block), Block1
# collects a large request body and hands it over only when complete, except
# for a resource an object streams (its SINK, e.g. the firmware Package
# /5/0/0): each block goes to the object's block() as it arrives.
from micropython import const
from client.coap import Msg
from client.codes import (BAD_OPTION, BLOCK1, BLOCK2, CHANGED, CONTINUE, CoapError, GET,
                          REQUEST_ENTITY_INCOMPLETE, REQUEST_ENTITY_TOO_LARGE,
                          REQUEST_TAG, SIZE1, SIZE2, URI_PATH, W)

MAX_BODY = const(24576)     # largest Block1 body assembled (-> 4.13 beyond)
_SZX = const(6)             # our preferred block size: 2 ** (6 + 4) = 1024


def opt(m, num):
    # (num, more, szx) of a Block1/Block2 option, or None
    v = m.uint(num)
    if v is None:
        return None
    if v & 7 == 7:
        raise CoapError(BAD_OPTION)
    return v >> 4, (v >> 3) & 1, v & 7


def enc(num, more, szx):
    return (num << 4) | (more << 3) | szx


class Blocks:
    def __init__(self, eng=None):
        self.e = eng
        self.body = None        # [key, bytearray, next num] of a Block1 transfer

    def sink(self, p, m, srv):
        # the object streaming the resource at URI path p, if any
        if self.e and len(p) == 3 and m.code != GET:
            try:
                o = self.e.objs.get(int(p[0]))
                if o and getattr(o, "SINK", None) == int(p[2]) and int(p[1]) in o.inst:
                    self.e.allow(srv, W, (o.ID, int(p[1]), o.SINK))
                    return o
            except ValueError:
                pass
        return None

    def block1(self, m, srv=None):
        # None: go on with m (complete); else the 2.31 / error response
        b = opt(m, BLOCK1)
        if b is None:
            return None
        num, more, szx = b
        size = 16 << szx
        p = tuple(bytes(x) for x in m.all(URI_PATH))
        o = self.sink(p, m, srv)
        if o:
            self.body = None
            r = o.block(num, size, more, m.payload, m.uint(SIZE1))
            return r or Msg(code=CONTINUE if more else CHANGED).add(BLOCK1, enc(num, more, szx))
        key = (p, bytes(m.opt(REQUEST_TAG) or b""), m.code)
        cur = self.body
        if num == 0:
            cur = self.body = [key, bytearray(), 0]
        if not cur or cur[0] != key or cur[2] != num or len(cur[1]) != num * size:
            self.body = None
            raise CoapError(REQUEST_ENTITY_INCOMPLETE)
        if len(cur[1]) + len(m.payload) > MAX_BODY or (m.uint(SIZE1) or 0) > MAX_BODY:
            self.body = None
            r = Msg(code=REQUEST_ENTITY_TOO_LARGE).add(SIZE1, MAX_BODY)
            return r
        cur[1].extend(m.payload)
        cur[2] += 1
        if more:
            return Msg(code=CONTINUE).add(BLOCK1, enc(num, 1, szx))
        m.payload = memoryview(cur[1])
        self.body = None
        return None

    def block2(self, m, r):
        # slice a response into the block the request asks for (or the first)
        b = opt(m, BLOCK2)
        num, szx = (b[0], min(b[2], _SZX)) if b else (0, _SZX)
        size = 16 << szx
        pl = r.payload
        if not b and len(pl) <= size:
            return r
        if num * size >= len(pl) and num:
            raise CoapError(BAD_OPTION)
        end = (num + 1) * size
        r.payload = pl[num * size:end]
        r.add(BLOCK2, enc(num, end < len(pl), szx))
        if num == 0:
            r.add(SIZE2, len(pl))
        return r
