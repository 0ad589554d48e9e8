# TLS for the stream transports (coaps+tcp://, mqtts://): a context from the
# Security instance for MicroPython's tls module (the handshake runs non-
# blocking on the stream's reads and writes, boards/unixtcp.py). Loaded only
# for those URIs.
import tls
from client.ids import MODE_CERT, MODE_PSK, SEC_ID, SEC_KEY, SEC_MODE, SEC_SERVER_KEY


def tls_ctx(sec):
    # PSK (mode 0: identity /0/x/3, key /0/x/5) when the port's tls has it;
    # certificates (mode 2: own /0/x/3 + /0/x/5, the server's /0/x/4 verified)
    c = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    mode = sec.get(SEC_MODE)
    c.verify_mode = tls.CERT_NONE
    if mode == MODE_PSK:
        c.psk_identity = sec.get(SEC_ID, b"")
        c.psk_key = sec.get(SEC_KEY, b"")
    elif mode == MODE_CERT:
        if sec.get(SEC_ID):
            c.load_cert_chain(sec.get(SEC_ID), sec.get(SEC_KEY))
        if sec.get(SEC_SERVER_KEY):
            c.load_verify_locations(sec.get(SEC_SERVER_KEY))
            c.verify_mode = tls.CERT_REQUIRED
    return c
