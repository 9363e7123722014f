#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0 OR BSD-3-Clause
"""Reference implementation of the cmr-crypt file format with Python's
cryptography (OpenSSL): an independent check of what the device produced.

    cmr_crypt_ref.py -e|-d KEYFILE INPUT OUTPUT
"""
import os
import struct
import sys

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

CHUNK, TAG, HDR = 64 << 10, 16, 32


def ivs(nonce, i):
    tail = (int.from_bytes(nonce[4:], 'big') ^ i).to_bytes(8, 'big')
    return nonce[:4] + tail


def aad(hdr, i, last):
    return hdr + struct.pack('>QB', i, last)


def split(buf, step):
    """Chunks of step bytes; the last, flagged so, is the one nothing
    follows (full when the length is a multiple, empty only for nothing)."""
    return [buf[i:i + step] for i in range(0, len(buf), step)] or [b'']


def main(mode, keyfile, inp, out):
    key = open(keyfile, 'rb').read()[:32]
    data = open(inp, 'rb').read()
    g = AESGCM(key)
    if mode == '-e':
        nonce = os.urandom(12)
        hdr = b'CMRCRYPT' + struct.pack('>II', 1, CHUNK) + nonce + b'\0' * 4
        chunks, op = split(data, CHUNK), g.encrypt
    else:
        hdr, body = data[:HDR], data[HDR:]
        assert hdr[:8] == b'CMRCRYPT', 'not a cmr-crypt file'
        nonce = hdr[16:28]
        chunks, op = split(body, CHUNK + TAG), g.decrypt
    res = bytearray(hdr if mode == '-e' else b'')
    for i, c in enumerate(chunks):
        res += op(ivs(nonce, i), c, aad(hdr, i, i == len(chunks) - 1))
    open(out, 'wb').write(res)

if __name__ == '__main__':
    main(*sys.argv[1:])
