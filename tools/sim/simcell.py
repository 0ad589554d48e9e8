# A simulated cellular board on the virtual clock (unix port; a simulator in
# tools/sim/, not shipped): VirtualBoard's loopback sockets seen through the
# simulated modem (tools/sim/simmodem.py), which is
# configured over AT commands (boards/modem.py) on the same clock. Policies:
#   default/fixed  the client's own awake window; when it turns the radio off
#                  the host forces the modem to sleep (PSM)
#   psm            RAI per message (transport spec Table D.4-1) through the
#                  Exchange's rai hook; the client relies on the network's
#                  active timer: its awake window ends when the modem enters
#                  PSM (T3324 after the release, Appendix D.8.4)
# An SMS from the network (sms()) wakes the client with a Registration Update
# trigger (issue 5 point 7).
from boards.virtual import VirtualBoard
from simmodem import SimModem, Link
from boards.modem import Modem, rai_for


class CellBoard(VirtualBoard):
    def __init__(self, state="state", slice_ms=30, policy="psm", t3324=None, t3412=None,
                 setup_ms=1000, overhead=28, vendor="nrf91", force=None, **sim):
        self.modem = None
        self.flips = []         # (ms, radio on) as the client switches it
        super().__init__(state, slice_ms)
        self.policy = policy
        self.force = policy != "psm" if force is None else force
        self.want = (t3412, t3324)
        self.setup_ms = setup_ms
        self.over = overhead
        self.modem = SimModem(self.clock, vendor, **sim)
        self.at = Modem(self.modem, vendor, self)
        self.rai = self._rai if policy == "psm" else None   # read by the client at connect
        self.links = []
        self.client = None
        self.active = None      # granted T3324 (ms)

    @property
    def radio(self):
        return self._on

    @radio.setter
    def radio(self, on):
        m = self.modem
        if m and on != self._on:
            self.flips.append((self.clock.ms(), on))
            if not on and self.force:
                m.radio_event("sleep")
        self._on = on

    def setup(self, client):
        # PSM timers for this client (D.8.5: T3412 > lifetime > pmax; T3324 the
        # awake window, or for 'psm' one paging cycle), URCs on
        self.client = client
        at = self.at
        at.setup()
        at.on_urc = self._urc
        t3412, a = self.want
        if a is None:
            a = -(-(self.modem.paging if self.policy == "psm" else client.awake_ms) // 1000)
        lt = client.servers[0].lifetime() if client.servers else 86400
        if t3412 is None:
            at.psm_for(lt, a)
        else:
            at.request_psm(t3412, a)
        if at.t3324 is not None:
            self.active = at.t3324 * 1000
            if self.policy == "psm":
                client.awake_ms = self.active
        return at.t3412, at.t3324

    def udp(self, host, port, lport=0):
        tr = super().udp(host, port, lport)
        ln = Link(tr, self.modem, self.setup_ms, self.over, self.clock)
        ln.lport = tr.lport
        ln.after = self._after
        self.links = [x for x in self.links if x.tr in self.open] + [ln]
        return ln

    def _rai(self, typ, more):
        # Table D.4-1: CON (Update, CON notification) one response, NON
        # (notification) none, ACK (a response to the server) ongoing, and
        # ongoing whenever more of ours is queued; over AT (nRF91 SO_RAI)
        self.at.rai(rai_for(typ == 0, more, typ == 2))

    def _after(self, t):
        # psm: the awake window runs until the modem's PSM entry (the release
        # comes after the inactivity timer when RAI said 'ongoing')
        if self.policy == "psm" and self.client and self.active:
            p = self.modem.psm_at()
            if p is not None:
                self.client.awake_ms = max(self.active, p - t)

    def wait(self, ms):
        now = self.clock.ms()
        for ln in self.links:
            d = ln.due()
            if d is not None and now < d < now + ms:
                ms = d - now        # a paged datagram is delivered then
        super().wait(ms)
        self.urcs()

    def urcs(self):
        self.at.poll()

    def _urc(self, kind, v):
        c = self.client
        if kind == "sms" and c:
            c.log("sms", v)
            c.wake()
            for s in c.servers:
                s.trigger()

    def sms(self, delay_ms=0, n=160):
        # an SMS reaching the network in delay_ms. Client timers stand for the
        # modem's interrupt line: the client's radio-off wait ends only at a
        # deadline it knows of
        c = self.client

        def arrive():
            d = self.modem.sms(n)
            if d is not None:
                c.at(d - self.clock.ms(), self.urcs)
        c.at(delay_ms, arrive)
