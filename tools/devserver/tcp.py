"""The dev LwM2M server (tools/lwm2m_server.py) listening on CoAP over TCP too
(RFC 8323, coap+tcp://), and on CoAP over TLS (coaps+tcp://) with a
certificate: aiocoap's tcpserver / tlsserver transports added to the same
context, so registrations, requests and observations work unchanged; the
server answers over the connection a client registered or updated on.

    with TcpServer(tls=(certfile, keyfile)) as srv:
        srv.tcp_port, srv.tls_port   # coap+tcp://127.0.0.1:<tcp_port>

TcpBootstrapServer: the dev bootstrap server the same way.
"""
import asyncio

from devclient import free_port

from .server import Server


def free_tcp_port():
    return free_port(tcp=True)


class Tcp:
    """Mixin: a dev server class (Server, BootstrapServer) listening on
    coap+tcp (and coaps+tcp with tls=(certfile, keyfile)) as well."""

    def __init__(self, *a, tcp_port=0, tls=None, tls_port=0, **kw):
        super().__init__(*a, **kw)
        self.tcp_port = tcp_port or free_tcp_port()
        self.tls = tls
        self.tls_port = tls_port or (free_tcp_port() if tls else None)

    async def _astart(self):
        await super()._astart()
        from aiocoap.transports.tcp import TCPServer
        loop = asyncio.get_running_loop()
        ctx = self._ctx
        await ctx._append_tokenmanaged_transport(
            lambda tman: TCPServer.create_server((self.host, self.tcp_port), tman, ctx.log, loop))
        if self.tls:
            import ssl
            from aiocoap.transports.tls import TLSServer
            sc = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            sc.load_cert_chain(*self.tls)
            sc.set_alpn_protocols(["coap"])
            await ctx._append_tokenmanaged_transport(
                # (aiocoap adds 1 to a given port for TLS: 5683 -> 5684)
                lambda tman: TLSServer.create_server((self.host, self.tls_port - 1), tman, ctx.log, loop, sc))
        # queue mode: a message on any connection says the client is awake
        for ri in ctx.request_interfaces[1:]:
            ti = ri.token_interface
            orig = ti._dispatch_incoming

            def dispatch(conn, msg, _orig=orig):
                try:
                    self._incoming(msg)
                except Exception:  # noqa: BLE001
                    pass
                _orig(conn, msg)
            ti._dispatch_incoming = dispatch
        self._log("coap+tcp on %s:%d%s" % (self.host, self.tcp_port,
                                           ", coaps+tcp on %d" % self.tls_port if self.tls else ""))


class TcpServer(Tcp, Server):
    """The dev LwM2M server on UDP and TCP (and TLS)."""


def TcpBootstrapServer(*a, **kw):
    """The dev bootstrap server (tools/devserver/bootstrap.py) on TCP too."""
    from .bootstrap import BootstrapServer
    return type("TcpBootstrapServer", (Tcp, BootstrapServer), {})(*a, **kw)
