// A third-party LwM2M server for the interop tests: Telefonica's
// lwm2m-node-lib (npm, LwM2M 1.0 era, node-coap based), driven over
// stdin/stdout with one JSON object per line.
//
//   node --no-warnings lwm2m_node_server.js PORT
//   stdout: {"event": "ready", "port": N}
//           {"event": "register" | "update" | "deregister", "ep": .., "lt": .., "b": .., "payload": ..}
//           {"event": "notify", "ep": .., "path": .., "value": ..}
//           {"id": N, "ok": true, "value": .., "code": .., "ct": .., "hex": ..} | {"id": N, "ok": false, "error": .., "code": ..}
//   stdin:  {"id": N, "op": "read" | "write" | "execute" | "discover" | "attrs" |
//            "observe" | "cancel" | "raw" | "devices", "ep": .., "path": "/3/0/0", ...}
//
// Where the peer is at fault it is worked around HERE, never in the client:
// - it registers the LwM2M content formats under pre-release numbers (1541
//   "lightweightm2m/text"); the standard numbers are configured instead
//   (formats / writeFormat / defaultAcceptFormat below);
// - its read() turns every payload into a UTF-8 string (binary TLV and CBOR
//   are mangled): binary reads go through its own coapUtils.sendRequest and
//   come back as hex ("raw" op);
// - its cancelObserver() only forgets the observation locally: node-coap's
//   proxy (through which the lib sends every request) never passes the RST
//   of the agent on to the client, so the client would notify for ever. The
//   script keeps the token of each Observe and, on cancel, also sends the
//   RFC 7641 deregistration (GET, Observe: 1, same token) through the proxy;
// - its discover() argument handling is positional: called as documented.
'use strict';

var path = require('path');
var readline = require('readline');
var lib = require('lwm2m-node-lib').server;
var coapUtils = require('lwm2m-node-lib/lib/services/server/coapUtils');
var coap = require('coap');
var packet = require('coap-packet');
var dgram = require('dgram');
var Readable = require('stream').Readable;
var tokens = {};    // observed path -> token of the Observe request

var port = parseInt(process.argv[2] || '5683', 10);
var FORMATS = [
    {name: 'application/vnd.oma.lwm2m+tlv', value: 11542},
    {name: 'application/vnd.oma.lwm2m+json', value: 11543},
    {name: 'application/senml+json', value: 110},
    {name: 'application/senml+cbor', value: 112}
];
var config = {
    port: port,
    udpWindow: 100,
    defaultType: 'Device',
    logLevel: 'FATAL',
    ipProtocol: 'udp4',
    serverProtocol: 'udp4',
    formats: FORMATS,
    writeFormat: 'text/plain',
    types: []
};

function out(o) {
    process.stdout.write(JSON.stringify(o) + '\n');
}

function split(p) {
    return p.split('/').filter(function (x) { return x !== ''; });
}

function device(ep, cb) {
    lib.getDevice(ep, function (err, dev) {
        if (err) {
            cb(err);
        } else {
            cb(null, dev);
        }
    });
}

function fail(id, err) {
    out({id: id, ok: false, error: String(err && (err.message || err.name) || err), code: err && err.code});
}

function reply(id) {
    return function (err, value) {
        if (err) {
            fail(id, err);
        } else {
            out({id: id, ok: true, value: value});
        }
    };
}

// a request through the peer's own machinery (its proxy, its socket), the
// response kept raw: code, content format, payload as hex
function raw(id, dev, req) {
    var r = {
        host: '127.0.0.1',
        port: port,
        method: req.method || 'GET',
        proxyUri: 'coap://' + dev.address + ':' + dev.port,
        pathname: req.path,
        options: {}
    };
    if (req.accept) {
        r.options.Accept = req.accept;
    }
    if (req.ct) {
        r.options['Content-Format'] = req.ct;
    }
    if (req.query) {
        r.query = req.query;
    }
    if (req.hex) {
        r.payload = Buffer.from(req.hex, 'hex');
    }
    coapUtils.sendRequest(r, function (err, res) {
        if (err) {
            return fail(id, err);
        }
        var ct = res.headers && res.headers['Content-Format'];
        out({id: id, ok: true, code: res.code, ct: ct, hex: res.payload.toString('hex')});
    });
}

// the lib's coapUtils.sendRequest, the same, plus: the token of an Observe
// is kept (for the deregistration on cancel)
coapUtils.sendRequest = function (request, callback) {
    var agent = new coap.Agent({type: 'udp4'}),
        req = agent.request(request),
        rs = new Readable();
    req.on('response', function (res) {
        if (request.observe) {
            tokens[request.pathname] = req._packet.token;
            return callback(null, res);
        }
        var done = false;
        res.on('data', function () {});
        res.on('end', function () {
            if (!done) {
                done = true;
                callback(null, res);
            }
        });
        res.on('error', function (e) {
            if (!done) {
                done = true;
                callback(e);
            }
        });
    });
    req.on('error', function (error) {
        callback(error);
    });
    if (request.payload) {
        rs.push(request.payload);
        rs.push(null);
        rs.pipe(req);
    } else {
        req.end();
    }
};

// RFC 7641 §3.6: GET with Observe: 1 and the token of the observation,
// through the proxy (so it comes from the server's address)
function deregister(dev, pathname, cb) {
    var tok = tokens[pathname];
    if (!tok) {
        return cb('no token for ' + pathname);
    }
    delete tokens[pathname];
    var s = dgram.createSocket('udp4');
    var opts = [{name: 'Observe', value: Buffer.from([1])}];
    split(pathname).forEach(function (x) {
        opts.push({name: 'Uri-Path', value: Buffer.from(x)});
    });
    opts.push({name: 'Proxy-Uri', value: Buffer.from('coap://' + dev.address + ':' + dev.port)});
    var msg = packet.generate({code: '0.01', confirmable: true, messageId: Math.floor(Math.random() * 65535),
                               token: tok, options: opts});
    var timer = setTimeout(function () {
        s.close();
        cb('no answer to the deregistration');
    }, 5000);
    s.on('message', function (m) {
        var r = packet.parse(m);
        if (r.code !== '0.00') {
            clearTimeout(timer);
            s.close();
            cb(null, r.code);
        }
    });
    s.send(msg, 0, msg.length, port, '127.0.0.1');
}

function handle(cmd) {
    var id = cmd.id;
    if (cmd.op === 'devices') {
        return lib.listDevices(function (err, devs) {
            if (err) {
                return fail(id, err);
            }
            out({id: id, ok: true, value: devs.map(function (d) { return d.name; })});
        });
    }
    device(cmd.ep, function (err, dev) {
        if (err) {
            return fail(id, err);
        }
        var p = split(cmd.path || '/');
        if (cmd.op === 'read') {
            // text (the lib's own read, with the Accept it is configured for)
            config.defaultAcceptFormat = cmd.accept || 'text/plain';
            lib.read(dev.id, p[0], p[1], p[2], reply(id));
        } else if (cmd.op === 'raw') {
            raw(id, dev, cmd);
        } else if (cmd.op === 'write') {
            lib.write(dev.id, p[0], p[1], p[2], cmd.value, reply(id));
        } else if (cmd.op === 'execute') {
            lib.execute(dev.id, p[0], p[1], p[2], cmd.value || null, reply(id));
        } else if (cmd.op === 'discover') {
            if (p.length === 3) {
                lib.discover(dev.id, p[0], p[1], p[2], reply(id));
            } else if (p.length === 2) {
                lib.discover(dev.id, p[0], p[1], reply(id));
            } else {
                lib.discover(dev.id, p[0], reply(id));
            }
        } else if (cmd.op === 'attrs') {
            lib.writeAttributes(dev.id, p[0], p[1], p[2], cmd.attrs, reply(id));
        } else if (cmd.op === 'observe') {
            config.defaultAcceptFormat = cmd.accept || 'text/plain';
            lib.observe(dev.id, p[0], p[1], p[2], function (value) {
                out({event: 'notify', ep: cmd.ep, path: cmd.path, value: value});
            }, reply(id));
        } else if (cmd.op === 'cancel') {
            lib.cancelObserver(dev.id, p[0], p[1], p[2], function (err) {
                if (err) {
                    return fail(id, err);
                }
                deregister(dev, '/' + p.join('/'), reply(id));
            });
        } else {
            fail(id, 'unknown op ' + cmd.op);
        }
    });
}

lib.start(config, function (err, info) {
    if (err) {
        out({event: 'error', error: String(err)});
        process.exit(1);
    }
    lib.setHandler(info, 'registration', function (ep, lt, version, binding, payload, cb) {
        out({event: 'register', ep: ep, lt: lt, lwm2m: version, b: binding, payload: payload});
        cb();
    });
    lib.setHandler(info, 'updateRegistration', function (obj, payload, cb) {
        out({event: 'update', ep: obj.name, lt: obj.lifetime, payload: payload});
        cb();
    });
    lib.setHandler(info, 'unregistration', function (dev, cb) {
        out({event: 'deregister', ep: dev && dev.name});
        cb();
    });
    out({event: 'ready', port: port, lib: path.basename(require.resolve('lwm2m-node-lib'))});
    var rl = readline.createInterface({input: process.stdin});
    rl.on('line', function (line) {
        if (line.trim()) {
            handle(JSON.parse(line));
        }
    });
    rl.on('close', function () {
        lib.stop(function () {
            process.exit(0);
        });
    });
});
