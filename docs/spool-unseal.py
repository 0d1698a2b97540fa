#!/usr/bin/env python3
"""Reads sealed spool files (mail_track_spool ... seal=) with nothing but
Python's standard library and python3-cryptography (Debian's package):
the second implementation of docs/spool-format.md, "Sealed files".

    spool-unseal.py --key PRIVATE_KEY.pem FILE...   > records.msgpack
    spool-unseal.py --vector [docs/spool-format.md]

The first form writes the records of each FILE, decrypted, to standard
output: plain spool records (msgpack), as an unsealed file holds them.
A plain file is copied as it is.  A chunk that fails is named on
standard error and ends its file; the exit status is then 1.

The second form checks the document's test vector: it seals the
vector's records again from its inputs (keys, counters) and compares
every byte, then opens the vector's file with the private key, and
makes sure a flipped byte, a dropped chunk, swapped chunks and a torn
last chunk are each refused.  It prints TAP.
"""

import hashlib
import re
import struct
import sys

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import (
    X25519PrivateKey, X25519PublicKey)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


MAGIC = b'MTSEAL'
VERSION = 1
SUITE = 1
HEADER_LEN = 48
CHUNK_HDR_LEN = 16
TAG_LEN = 16
CHUNK_MAX = 16 * 1024 * 1024
INFO = b'mail-track spool v1'

RAW = serialization.Encoding.Raw


class ChunkError(Exception):
    def __init__(self, index, offset, why):
        Exception.__init__(self, 'chunk %d at byte %d: %s'
                           % (index, offset, why))


def raw_public(key):
    return key.public_bytes(RAW, serialization.PublicFormat.Raw)


def key_id(public):
    """the recipient key's id: 8 bytes of SHA-256 of its 32 bytes"""
    return hashlib.sha256(public).digest()[:8]


def file_key(own_private, peer_public, header, recipient_public):
    """HKDF-SHA256 of the X25519 secret, info = label || header || key"""
    secret = own_private.exchange(peer_public)
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None,
                info=INFO + header + recipient_public).derive(secret)


def nonce(counter):
    return b'\0\0\0\0' + struct.pack('>Q', counter)


def seal(recipient_public, ephemeral_private, chunks):
    """a sealed file: chunks is a list of (counter, plaintext)"""
    public = raw_public(recipient_public)
    header = (MAGIC + bytes([VERSION, SUITE]) + key_id(public)
              + raw_public(ephemeral_private.public_key()))
    key = file_key(ephemeral_private, recipient_public, header, public)
    out = [header]
    for index, (counter, plain) in enumerate(chunks):
        hdr = struct.pack('>IIQ', index, len(plain), counter)
        out.append(hdr + AESGCM(key).encrypt(nonce(counter), plain, hdr))
    return b''.join(out), key


def unseal(data, private):
    """yields each chunk's plaintext; raises ChunkError at the first bad
    one (what came before it is good)"""
    if data[:6] != MAGIC:
        yield data                      # a plain spool file
        return
    if len(data) < HEADER_LEN:
        raise ChunkError(0, 0, 'torn inside the file header')
    if data[6] != VERSION or data[7] != SUITE:
        raise ChunkError(0, 0, 'unknown version %d, suite %d'
                         % (data[6], data[7]))
    header = data[:HEADER_LEN]
    public = raw_public(private.public_key())
    if header[8:16] != key_id(public):
        raise ChunkError(0, 0, 'sealed for key id %s, not for this key (%s)'
                         % (header[8:16].hex(), key_id(public).hex()))
    ephemeral = X25519PublicKey.from_public_bytes(header[16:48])
    key = file_key(private, ephemeral, header, public)

    off, index, least = HEADER_LEN, 0, 0
    while off < len(data):
        if len(data) - off < CHUNK_HDR_LEN:
            raise ChunkError(index, off, 'torn: the file ends inside it')
        hdr = data[off:off + CHUNK_HDR_LEN]
        got, length, counter = struct.unpack('>IIQ', hdr)
        if length == 0 or length > CHUNK_MAX:
            raise ChunkError(index, off, 'a length no writer gives')
        if got != index:
            raise ChunkError(index, off, 'out of place (index %d): a chunk '
                             'before it was dropped, or it was moved' % got)
        if counter < least:
            raise ChunkError(index, off, 'its nonce counter is not above '
                             'the one before')
        end = off + CHUNK_HDR_LEN + length + TAG_LEN
        if end > len(data):
            raise ChunkError(index, off, 'torn: the file ends inside it')
        try:
            plain = AESGCM(key).decrypt(nonce(counter),
                                        data[off + CHUNK_HDR_LEN:end], hdr)
        except InvalidTag:
            raise ChunkError(index, off, 'authentication failed')
        yield plain
        off, index, least = end, index + 1, counter + 1


def main_key(argv):
    if len(argv) < 3 or argv[0] != '--key':
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], 'rb') as f:
        private = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(private, X25519PrivateKey):
        sys.stderr.write('%s: not an X25519 private key\n' % argv[1])
        return 2
    rc = 0
    out = sys.stdout.buffer
    for path in argv[2:]:
        with open(path, 'rb') as f:
            data = f.read()
        try:
            for plain in unseal(data, private):
                out.write(plain)
        except ChunkError as e:
            sys.stderr.write('%s: %s\n' % (path, e))
            rc = 1
    out.flush()
    return rc


# --- the test vector ---------------------------------------------------------

def vector_fields(doc):
    """the fenced block after "### Sealed test vector": "name: value" """
    m = re.search(r'^### Sealed test vector\n.*?```\n(.*?)```', doc,
                  re.M | re.S)
    if m is None:
        raise SystemExit('no "### Sealed test vector" block in the document')
    fields = {}
    for line in m.group(1).splitlines():
        name, sep, value = line.partition(': ')
        if sep:
            fields[name.strip()] = value.strip()
    return fields


def doc_example(doc):
    """the document's own decryptor, as printed"""
    m = re.search(r'^### Decrypting in Python\n.*?```python\n(.*?)```', doc,
                  re.M | re.S)
    if m is None:
        raise SystemExit('no "### Decrypting in Python" block')
    scope = {}
    exec(m.group(1), scope)
    return scope['unseal']


def main_vector(argv):
    path = argv[0] if argv else __file__.rsplit('/', 1)[0] + '/spool-format.md'
    with open(path, encoding='utf-8') as f:
        doc = f.read()
    v = vector_fields(doc)
    example = doc_example(doc)

    n, failed = 0, 0

    def check(name, ok):
        nonlocal n, failed
        n += 1
        if not ok:
            failed += 1
        print('%s %d - %s' % ('ok' if ok else 'not ok', n, name))

    h = bytes.fromhex
    recipient = X25519PrivateKey.from_private_bytes(
        h(v['recipient private key (hex)']))
    ephemeral = X25519PrivateKey.from_private_bytes(
        h(v['ephemeral private key (hex)']))
    pem = serialization.load_pem_private_key(
        v['recipient private key (PEM body)'].join(
            ['-----BEGIN PRIVATE KEY-----\n', '\n-----END PRIVATE KEY-----\n']
        ).encode(), password=None)
    chunks = [(int(v['chunk 0 counter']), h(v['chunk 0 plaintext (hex)'])),
              (int(v['chunk 1 counter']), h(v['chunk 1 plaintext (hex)']))]
    sealed = h(v['file (hex)'])

    public = raw_public(recipient.public_key())
    check('recipient public key', public.hex()
          == v['recipient public key (hex)'])
    check('the PEM key is the same key', raw_public(pem.public_key())
          == public)
    check('key id', key_id(public).hex() == v['key id (hex)'])
    check('ephemeral public key',
          raw_public(ephemeral.public_key()).hex()
          == v['ephemeral public key (hex)'])

    data, key = seal(recipient.public_key(), ephemeral, chunks)
    check('file key', key.hex() == v['file key (hex)'])
    check('header', data[:HEADER_LEN].hex() == v['header (hex)'])
    check('chunk 0 nonce', nonce(chunks[0][0]).hex() == v['chunk 0 nonce (hex)'])
    check('chunk 1 nonce', nonce(chunks[1][0]).hex() == v['chunk 1 nonce (hex)'])
    check('sealed again from the inputs, byte for byte', data == sealed)

    plains = list(unseal(sealed, pem))
    check('opened with the private key', plains == [c[1] for c in chunks])
    check("the document's example opens it too",
          list(example(sealed, pem)) == [c[1] for c in chunks])

    def refused(name, data, want):
        try:
            list(unseal(data, pem))
            check(name, False)
        except ChunkError as e:
            check('%s: %s' % (name, e), want in str(e))

    c0 = HEADER_LEN + CHUNK_HDR_LEN + len(chunks[0][1]) + TAG_LEN
    for at in (8, HEADER_LEN + 5, HEADER_LEN + CHUNK_HDR_LEN + 1, c0 - 1,
               c0 + 10, len(sealed) - 1):
        flipped = bytearray(sealed)
        flipped[at] ^= 0x01
        refused('a flipped byte at %d' % at, bytes(flipped),
                'key id' if at < HEADER_LEN else 'chunk')
    refused('chunk 0 dropped', sealed[:HEADER_LEN] + sealed[c0:],
            'out of place')
    refused('chunks swapped', sealed[:HEADER_LEN] + sealed[c0:]
            + sealed[HEADER_LEN:c0], 'out of place')
    refused('a torn last chunk', sealed[:-3], 'torn')
    other = X25519PrivateKey.from_private_bytes(bytes(32))
    try:
        list(unseal(sealed, other))
        check('another key', False)
    except ChunkError as e:
        check('another key: %s' % e, 'not for this key' in str(e))

    print('1..%d' % n)
    return 1 if failed else 0


if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == '--vector':
        sys.exit(main_vector(sys.argv[2:]))
    sys.exit(main_key(sys.argv[1:]))
