#!/usr/bin/python3
"""Write images of an IDX file as 8-bit grayscale PNG files (numpy only).

    /usr/bin/python3 tools/idx_to_png.py IDX_IMAGES OUT_DIR [FIRST [COUNT]]

Writes OUT_DIR/NNNNN.png for images FIRST .. FIRST+COUNT-1 (default: the
first 10), named by their index in the file, to try `graphrun predict` on
real test images. Each row is stored with one of PNG's five filters in turn
(row y uses filter y mod 5), so a reader that mishandles any filter gets the
pixels wrong rather than passing by luck.
"""
import gzip
import os
import struct
import sys
import zlib

import numpy as np


def read_idx_images(path):
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        blob = f.read()
    magic, n, rows, cols = struct.unpack(">IIII", blob[:16])
    if magic != 0x00000803 or len(blob) != 16 + n * rows * cols:
        raise SystemExit(f"{path}: not an IDX file of unsigned-byte images")
    return np.frombuffer(blob[16:], dtype=np.uint8).reshape(n, rows, cols)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = np.abs(p - a), np.abs(p - b), np.abs(p - c)
    return np.where((pa <= pb) & (pa <= pc), a, np.where(pb <= pc, b, c))


def png_bytes(img):
    h, w = img.shape
    raw = bytearray()
    prev = np.zeros(w, dtype=np.int32)
    for y in range(h):
        cur = img[y].astype(np.int32)
        left = np.concatenate([[0], cur[:-1]])
        upleft = np.concatenate([[0], prev[:-1]])
        kind = y % 5
        pred = [np.zeros(w, dtype=np.int32), left, prev, (left + prev) // 2, paeth(left, prev, upleft)][kind]
        raw.append(kind)
        raw += ((cur - pred) & 0xFF).astype(np.uint8).tobytes()
        prev = cur

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(bytes(raw), 9)) + chunk(b"IEND", b""))


def main(argv):
    if len(argv) < 3 or len(argv) > 5:
        raise SystemExit(__doc__.strip().splitlines()[2].strip())
    images = read_idx_images(argv[1])
    first = int(argv[3]) if len(argv) > 3 else 0
    count = int(argv[4]) if len(argv) > 4 else 10
    if first < 0 or count < 1 or first + count > len(images):
        raise SystemExit(f"{argv[1]} holds {len(images)} images; {first}..{first + count - 1} is out of range")
    os.makedirs(argv[2], exist_ok=True)
    for i in range(first, first + count):
        with open(os.path.join(argv[2], f"{i:05d}.png"), "wb") as f:
            f.write(png_bytes(images[i]))


if __name__ == "__main__":
    main(sys.argv)
