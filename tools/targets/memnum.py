# Number round trips for the 32-bit targets (frozen next to memsession.py):
# values written as doubles, integers beyond 31 bits, times after 2038, in
# TLV / SenML JSON / SenML CBOR, read back in each format (checked on the host,
# host_tests/test_targets.py).
from client.model import Obj
from client.codes import GET, PUT, ACCEPT, CONTENT_FORMAT, RW, FLOAT, INT, TIME, UINT
from memsession import Session, TLV, SJSON, SCBOR


class Num(Obj):
    # a test object: number-typed resources to write and read back
    ID = 32769
    MULTI = False
    RES = ((0, RW, FLOAT, 0, 0), (1, RW, INT, 0, 0), (2, RW, TIME, 0, 0), (3, RW, UINT, 0, 0))

    def defaults(self, iid):
        return {0: 0.0, 1: 0, 2: 0, 3: 0}


def numbers(fmts=(TLV, SJSON, SCBOR), epoch=4102444800):
    # write the Num resources in each format, read them back in each format:
    # prints "NUM <write fmt> <value set> <read fmt> <code> <hex payload>" for
    # the host to check; and /3/0/13 (Current Time) on a clock after 2038
    import binascii
    s = Session(num=Num, epoch=epoch)
    s.wait_event("register")
    for rf in fmts:
        _, r = s.req(GET, "/3/0/13", [(ACCEPT, rf)])
        print("TIME", rf, "%x" % r.code, binascii.hexlify(r.payload).decode())
    for wf in fmts:
        for k, val in enumerate(VALUES):
            _, r = s.req(PUT, "/32769/0", [(CONTENT_FORMAT, wf)], val[wf])
            print("WRITE", wf, k, "%x" % r.code)
            for rf in fmts:
                _, r = s.req(GET, "/32769/0", [(ACCEPT, rf)])
                print("NUM", wf, k, rf, "%x" % r.code, binascii.hexlify(r.payload).decode())
    o = s.c.objs[32769].inst[0]
    print("TYPES", type(o[0]).__name__, type(o[1]).__name__, type(o[2]).__name__)
    print("NUMBERS DONE")


VALUES = []     # filled by the caller: [{fmt: payload bytes}]
