// A minimal proxy-wasm host in Node's V8 (the engine Envoy embeds): loads a filter, configures
// it, then drives N requests through the whole module (SDK dispatch, glue, core) as Envoy would
// call it, and prints µs per request and the host calls each request made. It measures the
// module's own work on a request; Envoy's side of each host call is not in it.
//
// Usage: node --no-warnings node_host.mjs FILTER.wasm CONFIG.json HEADERS.json [N [TOKENS]]
//   HEADERS.json: the request headers as [[name, value], ...] (what Envoy hands over).
//   TOKENS: a file of tokens, one a line: each request then carries the next one round robin as
//   `authorization: Bearer …` (a pool larger than the token cache: every request a miss), and
//   the host offers `verify_signature` as Envoy does (Node's crypto; the time spent in it is
//   left out of `module_ns_per_request`).
// With `--cpu-prof` (and a .wasm built with CARGO_PROFILE_RELEASE_STRIP=false) the profile
// names the module's functions.
import { readFile } from 'node:fs/promises';
import { argv } from 'node:process';
import { WASI } from 'node:wasi';
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';

const [wasmPath, configPath, headersPath, nArg, tokensPath] = argv.slice(2);
const n = Number(nArg || 200000);
const config = await readFile(configPath);
let headers = JSON.parse(await readFile(headersPath, 'utf8'));
const tokens = tokensPath
  ? (await readFile(tokensPath, 'utf8')).split('\n').filter((l) => l.length > 0) : [];
const enc = new TextEncoder();
const dec = new TextDecoder();

let inst;
const mem = () => new Uint8Array(inst.exports.memory.buffer);
const view = () => new DataView(inst.exports.memory.buffer);
const calls = new Map();
const count = (name) => calls.set(name, (calls.get(name) || 0) + 1);

// Copies bytes into module memory allocated by the module, and writes (ptr, len) out.
function give(bytes, outPtr, outLen) {
  const p = inst.exports.proxy_on_memory_allocate(bytes.length);
  mem().set(bytes, p);
  view().setUint32(outPtr, p, true);
  view().setUint32(outLen, bytes.length, true);
  return 0;
}

function serialize(pairs) {
  const parts = pairs.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  let size = 4 + parts.length * 8;
  for (const [k, v] of parts) size += k.length + v.length + 2;
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, parts.length, true);
  let p = 4 + parts.length * 8;
  parts.forEach(([k, v], i) => {
    dv.setUint32(4 + i * 8, k.length, true);
    dv.setUint32(8 + i * 8, v.length, true);
    out.set(k, p); p += k.length + 1;
    out.set(v, p); p += v.length + 1;
  });
  return out;
}
let headerBytes = serialize(headers);
// One header map per token of the pool, serialized before the clock starts.
const withToken = (t) => headers.map(([k, v]) => [k, k === 'authorization' ? `Bearer ${t}` : v]);
const pool = tokens.map((t) => { const h = withToken(t); return { headers: h, bytes: serialize(h) }; });
let next = 0;
function rotate() {
  if (pool.length === 0) return;
  const p = pool[next];
  next = (next + 1) % pool.length;
  headers = p.headers;
  headerBytes = p.bytes;
}

// Envoy's `verify_signature` (VerifySignatureArguments in, VerifySignatureResult out), offered
// only with a token pool. Keys are parsed once per distinct DER key here (Envoy parses per call).
let hostNs = 0n;
const keyObjects = new Map();
function readVarint(b, at) {
  let v = 0, shift = 0, byte;
  do { byte = b[at.i++]; v += (byte & 0x7f) * 2 ** shift; shift += 7; } while (byte & 0x80);
  return v;
}
function verifySignature(args) {
  const f = {};
  const at = { i: 0 };
  while (at.i < args.length) {
    const key = readVarint(args, at);
    if ((key & 7) !== 2) return null;
    const len = readVarint(args, at);
    f[key >> 3] = args.subarray(at.i, at.i + len);
    at.i += len;
  }
  if (dec.decode(f[1]) !== 'sha256') return null;
  const id = Buffer.from(f[2]).toString('base64');
  let key = keyObjects.get(id);
  if (!key) {
    key = createPublicKey({ key: Buffer.from(f[2]), format: 'der', type: 'spki' });
    keyObjects.set(id, key);
  }
  const ok = cryptoVerify('sha256', f[4], key, f[3]);
  return ok ? new Uint8Array([0x08, 0x01]) : new Uint8Array(0);
}
const str = (p, l) => dec.decode(mem().subarray(p, p + l));
const shared = new Map();
let cas = 1;

const env = {
  proxy_log: (lvl, p, l) => { count('proxy_log'); if (lvl >= 3) console.error(str(p, l)); return 0; },
  proxy_get_buffer_bytes: (t, start, max, outP, outL) => { count('proxy_get_buffer_bytes'); return give(config, outP, outL); },
  proxy_get_header_map_pairs: (t, outP, outL) => { count('proxy_get_header_map_pairs'); return give(headerBytes, outP, outL); },
  proxy_get_header_map_value: (t, kp, kl, outP, outL) => {
    count('proxy_get_header_map_value');
    const k = str(kp, kl);
    const h = headers.find(([n]) => n === k);
    return h ? give(enc.encode(h[1]), outP, outL) : 1;
  },
  proxy_get_current_time_nanoseconds: (outP) => { count('proxy_get_current_time_nanoseconds'); view().setBigUint64(outP, BigInt(Date.now()) * 1000000n, true); return 0; },
  // Envoy serves its bootstrap node (jwtgate tells Envoy by it); nothing else here.
  proxy_get_property: (pp, pl, outP, outL) => {
    count('proxy_get_property');
    return str(pp, pl) === 'xds\0node' ? give(enc.encode('node'), outP, outL) : 1;
  },
  proxy_set_property: () => { count('proxy_set_property'); return 1; },
  proxy_replace_header_map_value: () => { count('proxy_replace_header_map_value'); return 0; },
  proxy_add_header_map_value: () => { count('proxy_add_header_map_value'); return 0; },
  proxy_remove_header_map_value: () => { count('proxy_remove_header_map_value'); return 0; },
  proxy_define_metric: (t, np, nl, outId) => { count('proxy_define_metric'); view().setUint32(outId, 1, true); return 0; },
  proxy_increment_metric: () => { count('proxy_increment_metric'); return 0; },
  proxy_get_shared_data: (kp, kl, outP, outL, outCas) => {
    count('proxy_get_shared_data');
    const v = shared.get(str(kp, kl));
    if (!v) return 1;
    view().setUint32(outCas, v.cas, true);
    return give(v.data, outP, outL);
  },
  proxy_set_shared_data: (kp, kl, vp, vl, c) => {
    count('proxy_set_shared_data');
    shared.set(str(kp, kl), { data: mem().slice(vp, vp + vl), cas: cas++ });
    return 0;
  },
  proxy_set_tick_period_milliseconds: () => 0,
  proxy_send_local_response: () => { count('proxy_send_local_response'); return 0; },
  proxy_continue_stream: () => { count('proxy_continue_stream'); return 0; },
  proxy_set_effective_context: () => 0,
  // Without a token pool no foreign functions (Envoy answers NotFound for one it lacks): the
  // module's own signature code runs, as on a host without `verify_signature`.
  proxy_call_foreign_function: (np, nl, ap, al, outP, outL) => {
    count('proxy_call_foreign_function');
    if (pool.length === 0 || str(np, nl) !== 'verify_signature') return 1;
    const t0 = process.hrtime.bigint();
    const answer = verifySignature(mem().slice(ap, ap + al));
    hostNs += process.hrtime.bigint() - t0;
    return answer ? give(answer, outP, outL) : 2;
  },
};
const module = await WebAssembly.compile(await readFile(wasmPath));
for (const imp of WebAssembly.Module.imports(module)) {
  if (imp.module === 'env' && !(imp.name in env)) {
    env[imp.name] = () => { throw new Error(`unexpected host call ${imp.name}`); };
  }
}
const wasi = new WASI({ version: 'preview1', args: [], env: {} });
inst = await WebAssembly.instantiate(module, { ...wasi.getImportObject(), env });
wasi.initialize({ exports: { memory: inst.exports.memory, _initialize: inst.exports._initialize } });
const x = inst.exports;
const ROOT = 1;
x.proxy_on_context_create(ROOT, 0);
if (!x.proxy_on_vm_start(ROOT, 0)) throw new Error('vm start refused');
if (!x.proxy_on_configure(ROOT, config.length)) throw new Error('configure refused');

function request(id) {
  rotate();
  x.proxy_on_context_create(id, ROOT);
  const action = x.proxy_on_request_headers(id, headers.length, 1);
  x.proxy_on_done(id);
  x.proxy_on_log(id);
  x.proxy_on_delete(id);
  return action;
}
// Warm up (the first request verifies and caches the token; TurboFan settles).
let id = 2;
for (let i = 0; i < 20000; i++) if (request(id++) !== 0) throw new Error('request paused or refused');
calls.clear();
hostNs = 0n;
const t = process.hrtime.bigint();
for (let i = 0; i < n; i++) request(id++);
const ns = Number(process.hrtime.bigint() - t) / n;
const perRequest = Object.fromEntries([...calls].map(([k, v]) => [k, +(v / n).toFixed(2)]));
const out = { ns_per_request: Math.round(ns), host_calls_per_request: perRequest };
if (pool.length > 0) {
  out.host_verify_ns_per_request = Math.round(Number(hostNs) / n);
  out.module_ns_per_request = Math.round(ns - Number(hostNs) / n);
}
console.log(JSON.stringify(out));
