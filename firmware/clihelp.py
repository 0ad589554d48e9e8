# Help of firmware/main.py's options (--help) and the reason phrases of the
# CoAP codes it prints: loaded only when needed (RAM).
HELP = {
    "server": "LwM2M server coap[s]://HOST:PORT (else from --state)",
    "endpoint": "endpoint client name",
    "lifetime": "registration lifetime, s",
    "binding": "binding: U (UDP), T (TCP), M (MQTT), S (SMS); +Q for queue mode",
    "tcp": "TCP/MQTT accounts: keep-alive S[,Pong wait S][,long] (long: queue mode keeps the connection)",
    "awake": "queue mode: awake window after the last message, s",
    "bootstrap": "Bootstrap-Server coap[s]://HOST:PORT",
    "psk-identity": "PSK identity of coaps:// servers",
    "psk-key": "PSK key of coaps:// servers, hex",
    "state": "state directory (saved configuration, factory.cfg)",
    "clock": "virtual: a clock that jumps over idle time (tests)",
    "duration": "stop after S seconds of client time",
    "deep": "radio-off sleeps of S s or more are deep sleeps (exit 3, restored on restart)",
    "app": "application module with start(client)",
    "alt": "alternate path, e.g. /alt",
    "format": "preferred content format",
    "modem": "a cellular modem on this serial device (a pty on the unix port): DEV[,nrf91|sim7080|bg95]",
    "sms": "SMS binding: SERVER_MSISDN[,OWN_MSISDN] (--binding S, SQ, US or UQS; needs --modem)",
    "quiet": "no log lines",
    "help": "this list",
}

# RFC 7252 section 12.1.2
PHRASES = {"2.01": "Created", "2.02": "Deleted", "2.04": "Changed", "2.05": "Content",
           "4.00": "Bad Request", "4.01": "Unauthorized", "4.02": "Bad Option", "4.03": "Forbidden",
           "4.04": "Not Found", "4.05": "Method Not Allowed", "4.06": "Not Acceptable",
           "4.08": "Request Entity Incomplete", "4.12": "Precondition Failed",
           "4.13": "Request Entity Too Large", "4.15": "Unsupported Content-Format",
           "5.00": "Internal Server Error", "5.01": "Not Implemented", "5.03": "Service Unavailable"}


def phrase(code):
    # "4.00" -> "4.00 Bad Request"
    p = PHRASES.get(code)
    return code + " " + p if p else code


def usage(opts):
    print("usage: micropython firmware/main.py [options]")
    for e in opts:
        name, d, kind = e[0], e[1], e[2]
        text = e[3] if len(e) > 3 else HELP.get(name, "")
        arg = " " + ("URI" if kind == "uri" else "S" if kind in ("int", "num") else kind.upper()) if kind else ""
        print("  --%-24s %s%s" % (name + arg, text, "" if d in (None, False, "") else " (default %s)" % d))
    print("SIGTERM (a service manager): run it under tools/mprun.py, which passes it on as Ctrl-C")
