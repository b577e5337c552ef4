// A DPoP client (RFC 9449) for jwtgate's end-to-end tests: proofs come from the npm `dpop`
// library (generateKeyPair, generateProof, calculateThumbprint), as a real client makes them.
// The broken proofs a test needs (a private `d` in the header's jwk, HS256, a signature by a
// key other than the jwk's) are that library's proof re-signed with `jose`.
//
//   node dpop_client.mjs     one JSON command a line on stdin, one JSON answer a line on stdout
//
// Commands:
//   {"op":"key","alg":"ES256"|"RS256"}  -> {"key":ID,"jkt":...,"jwk":{...}}
//   {"op":"proof","key":ID,"htm":M,"htu":U,"token":T?,"age_s":N?,"variant":V?} -> {"proof":...}
//       age_s: the proof made N seconds ago; variant: "private_d" | "hs256" | "other_key"
//   {"op":"token","key":ID,"endpoint":URL,"client_id":...,"secret":...,"form":{...},"ua":...}
//       -> the token endpoint's JSON answer (a token request with this key's proof)
// Any error answers {"error":"..."}.

import { createInterface } from 'node:readline';
import * as dpop from 'dpop';
import { CompactSign } from 'jose';

const keys = new Map();
const enc = new TextEncoder();
const dec = new TextDecoder();

function b64uDecode(s) {
  return Buffer.from(s, 'base64url');
}

async function proofAt(kp, cmd) {
  const age = Number(cmd.age_s || 0);
  const realNow = Date.now;
  // The library stamps `iat` from the clock: a proof made `age` seconds ago.
  if (age) Date.now = () => realNow() - age * 1000;
  try {
    return await dpop.generateProof(kp, cmd.htu, cmd.htm, undefined, cmd.token ?? undefined);
  } finally {
    Date.now = realNow;
  }
}

async function resign(proof, header, key) {
  const [, payload] = proof.split('.');
  return new CompactSign(b64uDecode(payload)).setProtectedHeader(header).sign(key);
}

async function handle(cmd) {
  switch (cmd.op) {
    case 'key': {
      const kp = await dpop.generateKeyPair(cmd.alg || 'ES256', { extractable: true });
      const id = String(keys.size + 1);
      keys.set(id, { kp, alg: cmd.alg || 'ES256' });
      const jwk = await crypto.subtle.exportKey('jwk', kp.publicKey);
      return { key: id, jkt: await dpop.calculateThumbprint(kp.publicKey), jwk };
    }
    case 'proof': {
      const entry = keys.get(String(cmd.key));
      if (!entry) throw new Error(`no key ${cmd.key}`);
      const proof = await proofAt(entry.kp, cmd);
      const header = JSON.parse(dec.decode(b64uDecode(proof.split('.')[0])));
      switch (cmd.variant ?? null) {
        case null:
          return { proof };
        case 'private_d': {
          const priv = await crypto.subtle.exportKey('jwk', entry.kp.privateKey);
          return { proof: await resign(proof, { ...header, jwk: { ...header.jwk, d: priv.d } }, entry.kp.privateKey) };
        }
        case 'hs256':
          return { proof: await resign(proof, { ...header, alg: 'HS256' }, enc.encode('a shared secret of 32 bytes!!!!!')) };
        case 'other_key': {
          const other = await dpop.generateKeyPair(entry.alg, { extractable: true });
          return { proof: await resign(proof, header, other.privateKey) };
        }
        default:
          throw new Error(`unknown variant ${cmd.variant}`);
      }
    }
    case 'token': {
      const entry = keys.get(String(cmd.key));
      if (!entry) throw new Error(`no key ${cmd.key}`);
      const proof = await dpop.generateProof(entry.kp, cmd.endpoint, 'POST');
      const basic = Buffer.from(`${cmd.client_id}:${cmd.secret}`).toString('base64');
      const resp = await fetch(cmd.endpoint, {
        method: 'POST',
        headers: {
          authorization: `Basic ${basic}`,
          'content-type': 'application/x-www-form-urlencoded',
          'user-agent': cmd.ua || 'dpop-client',
          dpop: proof,
        },
        body: new URLSearchParams(cmd.form || {}).toString(),
      });
      return { status: resp.status, body: await resp.json() };
    }
    default:
      throw new Error(`unknown op ${cmd.op}`);
  }
}

const rl = createInterface({ input: process.stdin });
// One answer per line, in order: commands run one at a time.
let chain = Promise.resolve();
rl.on('line', (line) => {
  chain = chain.then(async () => {
    let out;
    try {
      out = await handle(JSON.parse(line));
    } catch (e) {
      out = { error: String(e && e.message ? e.message : e) };
    }
    process.stdout.write(`${JSON.stringify(out)}\n`);
  });
});
rl.on('close', () => chain.then(() => process.exit(0)));
