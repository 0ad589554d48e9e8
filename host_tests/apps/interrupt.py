# A Ctrl-C that lands inside the handling of a registration answer, as a
# SIGINT arriving just then does; INTR_AT in the environment says where:
# "loc": as the Register's answer is read (its location not yet taken);
# "1": the first call of Server._registered (the Register's answer taken);
# "2": the second (the first Update's answer). The client must still
# De-register.
import os
from client import reg, coap

_at = os.getenv("INTR_AT") or "1"
_n = [int(_at) if _at.isdigit() else 1]
_reg = reg.Server._registered
_strs = coap.Msg.strs


def _registered(self):
    _n[0] -= 1
    if _n[0] == 0:
        reg.Server._registered = _reg
        raise KeyboardInterrupt
    _reg(self)


def _loc(self, num):
    if num == 8:    # Location-Path
        coap.Msg.strs = _strs
        raise KeyboardInterrupt
    return _strs(self, num)


def start(c):
    if _at == "loc":
        coap.Msg.strs = _loc
    else:
        reg.Server._registered = _registered
    if _n[0] > 1:
        c.at(100, lambda: c.servers[0].trigger())   # an Update soon after the Register
