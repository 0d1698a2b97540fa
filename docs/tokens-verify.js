#!/usr/bin/env node
/*
 * Checks the test vectors of docs/tokens.md with nothing but Node.js'
 * built-in crypto: for each vector, decodes the token, checks version,
 * key id and nonce, rebuilds the AAD, decrypts with AES-256-GCM, compares
 * the plaintext bytes and their msgpack meaning, makes sure the token
 * fails under the other purposes, and mints it again with the example
 * code of the document.
 *
 *   node docs/tokens-verify.js [docs/tokens.md]
 *
 * Prints TAP; exits 1 if anything fails.
 */

'use strict';

const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const assert = require('assert');

const file = process.argv[2] || path.join(__dirname, 'tokens.md');
const doc = fs.readFileSync(file, 'utf8');

const PURPOSE = { open: 0x6f, click: 0x63, unsubscribe: 0x75 };

let n = 0;
let failed = 0;

function check(name, fn) {
  n++;
  try {
    fn();
    console.log(`ok ${n} - ${name}`);
  } catch (e) {
    failed++;
    console.log(`not ok ${n} - ${name}`);
    console.log(`# ${String(e.message).split('\n').join('\n# ')}`);
  }
}

/* the vectors: "### Vector N: title" and a fenced block of "field: value" */

function parseVectors(text) {
  const out = [];
  const re = /^### (Vector \d+[^\n]*)\n[\s\S]*?```\n([\s\S]*?)```/gm;
  let m;
  while ((m = re.exec(text)) !== null) {
    const v = { title: m[1] };
    for (const line of m[2].split('\n')) {
      const i = line.indexOf(': ');
      if (i > 0) v[line.slice(0, i)] = line.slice(i + 2).trim();
    }
    out.push(v);
  }
  return out;
}

/* the document's minting example, run as it is printed */

function loadMintExample(text) {
  const m = /<!-- mint-example -->\s*```js\n([\s\S]*?)```/.exec(text);
  if (!m) throw new Error('no mint example in the document');
  return new Function('require', `${m[1]}\nreturn mintToken;`)(require);
}

/* a small msgpack reader: maps, str, bin, ints, nil, bool */

function mpDecode(buf) {
  let pos = 0;

  function be(len) {
    if (pos + len > buf.length) throw new Error('msgpack: truncated');
    let v = 0n;
    for (let i = 0; i < len; i++) v = (v << 8n) | BigInt(buf[pos + i]);
    pos += len;
    return v;
  }

  function num(v) {
    return v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  function str(len) {
    if (pos + len > buf.length) throw new Error('msgpack: truncated');
    const s = buf.subarray(pos, pos + len).toString('utf8');
    pos += len;
    return s;
  }

  function map(count) {
    const o = {};
    for (let i = 0; i < count; i++) {
      const k = value();
      o[k] = value();
    }
    return o;
  }

  function value() {
    if (pos >= buf.length) throw new Error('msgpack: truncated');
    const c = buf[pos++];
    if (c <= 0x7f) return c;
    if (c >= 0xe0) return c - 0x100;
    if ((c & 0xf0) === 0x80) return map(c & 0x0f);
    if ((c & 0xe0) === 0xa0) return str(c & 0x1f);
    switch (c) {
      case 0xc0: return null;
      case 0xc2: return false;
      case 0xc3: return true;
      case 0xc4: case 0xd9: return str(Number(be(1)));
      case 0xc5: case 0xda: return str(Number(be(2)));
      case 0xc6: case 0xdb: return str(Number(be(4)));
      case 0xcc: return num(be(1));
      case 0xcd: return num(be(2));
      case 0xce: return num(be(4));
      case 0xcf: return num(be(8));
      case 0xd0: return Number(BigInt.asIntN(8, be(1)));
      case 0xd1: return Number(BigInt.asIntN(16, be(2)));
      case 0xd2: return Number(BigInt.asIntN(32, be(4)));
      case 0xd3: return num(BigInt.asIntN(64, be(8)));
      case 0xde: return map(Number(be(2)));
      default: throw new Error(`msgpack: unexpected byte 0x${c.toString(16)}`);
    }
  }

  const v = value();
  if (pos !== buf.length) throw new Error('msgpack: trailing bytes');
  return v;
}

function decrypt(key, raw, purpose) {
  const kid = raw[1];
  const nonce = raw.subarray(2, 14);
  const ct = raw.subarray(14, raw.length - 16);
  const tag = raw.subarray(raw.length - 16);
  const aad = Buffer.from([0x01, kid, purpose]);
  const d = crypto.createDecipheriv('aes-256-gcm', key, nonce);
  d.setAAD(aad);
  d.setAuthTag(tag);
  return { aad, plain: Buffer.concat([d.update(ct), d.final()]) };
}

const vectors = parseVectors(doc);
let mintToken = null;

check('the document has at least 3 vectors', () => {
  assert.ok(vectors.length >= 3, `found ${vectors.length}`);
});

check('the document has a runnable minting example', () => {
  mintToken = loadMintExample(doc);
  assert.strictEqual(typeof mintToken, 'function');
});

for (const v of vectors) {
  const t = v.title;

  check(`${t}: all fields present`, () => {
    for (const f of ['key id', 'key (hex)', 'key (base64)', 'nonce (hex)',
                     'purpose', 'plaintext (json)', 'plaintext (hex)',
                     'aad (hex)', 'token']) {
      assert.ok(v[f] !== undefined, `missing "${f}"`);
    }
  });

  const kid = Number(v['key id']);
  const key = Buffer.from(v['key (hex)'], 'hex');
  const purpose = PURPOSE[v.purpose];
  const token = v.token;

  check(`${t}: key hex and base64 agree, 32 bytes`, () => {
    assert.strictEqual(key.length, 32);
    assert.ok(key.equals(Buffer.from(v['key (base64)'], 'base64')));
  });

  check(`${t}: token is unpadded base64url of at most 4096 chars`, () => {
    assert.match(token, /^[A-Za-z0-9_-]+$/);
    assert.ok(token.length <= 4096);
    assert.strictEqual(Buffer.from(token, 'base64url').toString('base64url'),
                       token, 'not canonical');
  });

  const raw = Buffer.from(token, 'base64url');

  check(`${t}: version 0x01, key id, nonce`, () => {
    assert.strictEqual(raw[0], 0x01);
    assert.strictEqual(raw[1], kid);
    assert.strictEqual(raw.subarray(2, 14).toString('hex'), v['nonce (hex)']);
    assert.strictEqual(raw.length,
                       2 + 12 + v['plaintext (hex)'].length / 2 + 16);
  });

  let plain = null;

  check(`${t}: decrypts with AAD 01 kid purpose`, () => {
    const r = decrypt(key, raw, purpose);
    assert.strictEqual(r.aad.toString('hex'), v['aad (hex)']);
    plain = r.plain;
  });

  check(`${t}: plaintext bytes`, () => {
    assert.ok(plain, 'no plaintext');
    assert.strictEqual(plain.toString('hex'), v['plaintext (hex)']);
  });

  check(`${t}: plaintext is the msgpack map of the JSON, keys mruxt`, () => {
    const obj = mpDecode(plain);
    const want = JSON.parse(v['plaintext (json)']);
    assert.deepStrictEqual(obj, want);
    const order = Object.keys(obj).join('');
    assert.strictEqual(order,
      ['m', 'r', 'u', 'x', 't'].filter((k) => k in obj).join(''),
      'key order');
  });

  check(`${t}: fails under the other purposes`, () => {
    for (const [name, p] of Object.entries(PURPOSE)) {
      if (p === purpose) continue;
      assert.throws(() => decrypt(key, raw, p), undefined, name);
    }
  });

  check(`${t}: fails with one byte flipped`, () => {
    const bad = Buffer.from(raw);
    bad[20] ^= 0x01;
    assert.throws(() => decrypt(key, bad, purpose));
  });

  check(`${t}: the minting example reproduces the token`, () => {
    assert.ok(mintToken, 'no minting example');
    const f = JSON.parse(v['plaintext (json)']);
    const got = mintToken(kid, v['key (base64)'], v.purpose, f,
                          Buffer.from(v['nonce (hex)'], 'hex'));
    assert.strictEqual(got, token);
  });
}

console.log(`1..${n}`);
process.exit(failed ? 1 : 0);
