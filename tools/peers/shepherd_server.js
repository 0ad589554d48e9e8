// A second third-party LwM2M server for the interop tests: coap-shepherd
// (npm, LwM2M 1.0 era, node-coap based), driven over stdin/stdout with the
// same one-JSON-object-per-line protocol as lwm2m_node_server.js:
//
//   node --no-warnings shepherd_server.js PORT DBDIR
//   stdout: {"event": "ready", "port": N}
//           {"event": "register" | "update" | "deregister", "ep": .., "lt": .., "lwm2m": .., "objects": ..}
//           {"event": "notify", "ep": .., "path": .., "value": ..}
//           {"id": N, "ok": true, "code": "2.05", "value": ..} | {"id": N, "ok": false, "error": ..}
//   stdin:  {"id": N, "op": "read" | "write" | "execute" | "discover" | "attrs" |
//            "observe" | "cancel", "ep": .., "path": "/3/0/0", "value": .., "attrs": {..}}
//
// Values are what the shepherd itself decodes (TLV, with its own IPSO
// definitions); requests are the shepherd's own (TLV writes, its queries).
// Where the peer is at fault it is worked around HERE, never in the client:
// - it depends on a git fork of node-coap; package.json's `overrides` gives
//   it npm's coap instead, which does not know the shepherd's pre-standard
//   name "application/tlv": it is registered with the standard number 11542;
// - its link-format parser takes `</1>;ver=1.1` (an object version, as the
//   LwM2M 1.1 Core asks for an object that is not 1.0) as part of the object
//   id, which its database then refuses ("field names cannot contain a ."):
//   attributes of the object/instance links are cut off before it parses them;
// - it reads its configuration (port, database) once, when first required:
//   the configuration is set before the require.
'use strict';

var path = require('path');
var readline = require('readline');

var port = parseInt(process.argv[2] || '5683', 10);
var dbdir = process.argv[3] || path.join(__dirname, 'shepherd-db');
var cfg = require('coap-shepherd/lib/config');
cfg.port = port;
cfg.defaultDbFolder = dbdir;
cfg.defaultDbPath = path.join(dbdir, 'coap-' + port + '.db');

var coap = require(require.resolve('coap', {paths: [path.dirname(require.resolve('coap-shepherd'))]}));
coap.registerFormat('application/tlv', 11542);

var cutils = require('coap-shepherd/lib/components/cutils');
var parseLinks = cutils.getObjListOfSo;
cutils.getObjListOfSo = function (objList) {
    var links = String(objList).split(',').map(function (l) {
        return l.trim().startsWith('</>') ? l : l.split(';')[0];
    });
    return parseLinks(links.join(','));
};

var shepherd = require('coap-shepherd');

function out(o) {
    process.stdout.write(JSON.stringify(o) + '\n');
}

function done(id) {
    return function (err, rsp) {
        if (err) {
            out({id: id, ok: false, error: String(err && err.message || err)});
        } else {
            out({id: id, ok: true, code: rsp.status, value: rsp.data});
        }
    };
}

function handle(cmd) {
    var id = cmd.id;
    var node = shepherd.find(cmd.ep);
    if (!node) {
        return out({id: id, ok: false, error: 'no client ' + cmd.ep});
    }
    var p = cmd.path || '/';
    try {
        if (cmd.op === 'read') {
            node.readReq(p, done(id));
        } else if (cmd.op === 'write') {
            node.writeReq(p, cmd.value, done(id));
        } else if (cmd.op === 'execute') {
            node.executeReq(p, cmd.args || [], done(id));
        } else if (cmd.op === 'discover') {
            node.discoverReq(p, done(id));
        } else if (cmd.op === 'attrs') {
            node.writeAttrsReq(p, cmd.attrs, done(id));
        } else if (cmd.op === 'observe') {
            node.observeReq(p, done(id));
        } else if (cmd.op === 'cancel') {
            node.cancelObserveReq(p, done(id));
        } else {
            out({id: id, ok: false, error: 'unknown op ' + cmd.op});
        }
    } catch (e) {
        out({id: id, ok: false, error: String(e && e.message || e)});
    }
}

shepherd.on('error', function (err) {
    out({event: 'error', error: String(err && err.message || err)});
});

shepherd.on('ind', function (msg) {
    var node = msg.cnode;
    var ep = node && (node.clientName || node);
    if (msg.type === 'devIncoming') {
        out({event: 'register', ep: ep, lt: node.lifetime, lwm2m: node.version,
             objects: node.objList});
    } else if (msg.type === 'devUpdate') {
        out({event: 'update', ep: ep, data: msg.data});
    } else if (msg.type === 'devLeaving') {
        out({event: 'deregister', ep: ep});
    } else if (msg.type === 'devNotify') {
        out({event: 'notify', ep: ep, path: msg.data && msg.data.path, value: msg.data && msg.data.value});
    }
});

shepherd.on('ready', function () {
    shepherd.permitJoin(3600);
    out({event: 'ready', port: port});
    var rl = readline.createInterface({input: process.stdin});
    rl.on('line', function (line) {
        if (line.trim()) {
            handle(JSON.parse(line));
        }
    });
    rl.on('close', function () {
        shepherd.stop(function () {
            process.exit(0);
        });
    });
});

shepherd.start(function (err) {
    if (err) {
        out({event: 'error', error: String(err)});
        process.exit(1);
    }
});
