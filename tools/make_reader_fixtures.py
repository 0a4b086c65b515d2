"""Writes the good .npy and .npz files the reader tests read (tests/test_readers.c),
into tests/fixtures/npy and tests/fixtures/npz. The files are committed, so the
tests never need numpy; this script documents how they were made and rebuilds
them:  /usr/bin/python3 tools/make_reader_fixtures.py   (python3 with numpy)

Every array's values follow a formula the C test recomputes on its own:
  integers   v[i] = (i * 37) % 23 - 11 (unsigned: % 23), then v[0] and v[1]
             the largest and smallest values the type shares with int32;
  floats     v[i] = (i - 5) * 0.375, then v[0] = 0.1 and v[1] = -FLT_MAX
             (float64 also v[2] = 1e-45, which float32 keeps as a subnormal);
  bools      v[i] = i % 3 == 0;
  shape (3, 4) unless named otherwise. Hand-made files (headers spaced as numpy
  never writes them, a zip64 archive) are checked by np.load here.
"""
import io
import os
import struct
import zipfile
import zlib

import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures")
NPY = os.path.join(ROOT, "npy")
NPZ = os.path.join(ROOT, "npz")
FLT_MAX = float(np.finfo(np.float32).max)


def ints(dtype, n):
    v = np.array([(i * 37) % 23 - (0 if np.dtype(dtype).kind == "u" else 11) for i in range(n)], dtype=np.int64)
    info = np.iinfo(dtype)
    v[0] = min(info.max, 2**31 - 1)
    v[1] = max(info.min, -(2**31))
    return v.astype(dtype)


def floats(dtype, n):
    v = np.array([(i - 5) * 0.375 for i in range(n)], dtype=np.float64)
    v[0] = 0.1
    v[1] = -FLT_MAX
    if np.dtype(dtype).itemsize == 8:
        v[2] = 1e-45
    return v.astype(dtype)


def pattern(code, shape=(3, 4)):
    n = int(np.prod(shape))
    kind = code[1]
    if kind == "b":
        v = np.array([i % 3 == 0 for i in range(n)])
    elif kind == "f":
        v = floats(np.dtype(code).newbyteorder("="), n)
    else:
        v = ints(np.dtype(code).newbyteorder("="), n)
    return v.astype(code).reshape(shape)


def save(name, arr, version=None):
    with open(os.path.join(NPY, name), "wb") as f:
        np.lib.format.write_array(f, arr, version=version, allow_pickle=False)


def hand_npy(name, header, data, major=1):
    """A .npy file with the header text exactly as given (padded to 64 bytes)."""
    text = header.encode("latin1")
    pre = 10 if major == 1 else 12
    pad = (-(pre + len(text) + 1)) % 64
    text += b" " * pad + b"\n"
    size = struct.pack("<H", len(text)) if major == 1 else struct.pack("<I", len(text))
    raw = b"\x93NUMPY" + bytes([major, 0]) + size + text + data
    with open(os.path.join(NPY, name), "wb") as f:
        f.write(raw)
    return np.load(os.path.join(NPY, name))


def zip64_npz(path, members):
    """A zip whose sizes and offsets all go through zip64 fields, as a writer
    of archives over 4 GiB would write them (numpy does not for small ones)."""
    out = io.BytesIO()
    central = []
    for name, payload in members:
        crc = zlib.crc32(payload)
        off = out.tell()
        extra = struct.pack("<HHQQ", 1, 16, len(payload), len(payload))
        out.write(struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF, 0xFFFFFFFF,
                              len(name), len(extra)))
        out.write(name.encode() + extra + payload)
        cextra = struct.pack("<HHQQQ", 1, 24, len(payload), len(payload), off)
        central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, 0, 0, 0x21, crc, 0xFFFFFFFF,
                                   0xFFFFFFFF, len(name), len(cextra), 0, 0, 0, 0, 0xFFFFFFFF)
                       + name.encode() + cextra)
    cd_off = out.tell()
    cd = b"".join(central)
    out.write(cd)
    z64 = out.tell()
    out.write(struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0, len(members), len(members), len(cd), cd_off))
    out.write(struct.pack("<IIQI", 0x07064B50, 0, z64, 1))
    out.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0))
    with open(path, "wb") as f:
        f.write(out.getvalue())


def npy_bytes(arr):
    b = io.BytesIO()
    np.lib.format.write_array(b, arr, allow_pickle=False)
    return b.getvalue()


def main():
    os.makedirs(NPY, exist_ok=True)
    os.makedirs(NPZ, exist_ok=True)
    # every dtype, in both byte orders where it has one
    for code in ["u1", "i1", "b1"]:
        save("%s.npy" % code, pattern("|" + code))
    for code in ["u2", "i2", "u4", "i4", "u8", "i8", "f4", "f8"]:
        save("%s-le.npy" % code, pattern("<" + code))
        save("%s-be.npy" % code, pattern(">" + code))
    # Fortran order: C-order values 0..23 of shape (2, 3, 4), stored axis 0 fastest
    save("fortran-i4.npy", np.asfortranarray(np.arange(24, dtype="<i4").reshape(2, 3, 4)))
    save("fortran-f8-be.npy", np.asfortranarray(np.arange(24, dtype=">f8").reshape(2, 3, 4)))
    # format versions 2.0 and 3.0, shapes of rank 1 and 4
    save("v2.npy", np.arange(6, dtype="<f4").reshape(2, 3), version=(2, 0))
    save("v3.npy", np.arange(6, dtype="<f4").reshape(2, 3), version=(3, 0))
    save("rank1.npy", np.arange(5, dtype="<i8"))
    save("rank4.npy", np.arange(12, dtype="u1").reshape(2, 1, 3, 2))
    # headers as numpy does not write them, holding float32 0..5 of shape (2, 3)
    data = np.arange(6, dtype="<f4").tobytes()
    for name, header in [
        ("header-double-quotes.npy", '{"descr": "<f4", "fortran_order": False, "shape": (2, 3)}'),
        ("header-no-spaces.npy", "{'shape':(2,3),'descr':'<f4','fortran_order':False}"),
        ("header-key-order.npy", "{'fortran_order': False, 'shape': (2, 3), 'descr': '<f4', }"),
        ("header-wide.npy", "{  'descr' :\t'<f4' ,\n 'fortran_order' : False ,  'shape' : ( 2 , 3 , ) ,\n}"),
        ("header-py2-long.npy", "{'descr': '<f4', 'fortran_order': False, 'shape': (2L, 3L), }"),
    ]:
        got = hand_npy(name, header, data)
        assert got.shape == (2, 3) and (got.ravel() == np.arange(6)).all(), name
    # npz: stored, deflated, several chunks, Fortran order, a comment, zip64
    x = np.arange(6, dtype="<f4").reshape(2, 3)
    y = np.array([0, 1], dtype="<i8")
    np.savez(os.path.join(NPZ, "stored.npz"), x=x, y=y)
    np.savez_compressed(os.path.join(NPZ, "compressed.npz"), x=x, y=y)
    a = np.array([(i % 97) * 0.25 - 12 for i in range(50 * 60)], dtype="<f8").reshape(50, 60)
    b = (np.arange(16 * 28 * 28) * 7 % 251).astype("u1").reshape(16, 28, 28)
    np.savez_compressed(os.path.join(NPZ, "chunks.npz"), a=a, b=b)
    np.savez(os.path.join(NPZ, "fortran.npz"), f=np.asfortranarray(np.arange(24, dtype="<i2").reshape(2, 3, 4)))
    with zipfile.ZipFile(os.path.join(NPZ, "comment.npz"), "w") as z:
        z.writestr("x.npy", npy_bytes(x))
        z.comment = b"an archive comment, which the end record counts"
    zip64_npz(os.path.join(NPZ, "zip64.npz"), [("x.npy", npy_bytes(x)), ("y.npy", npy_bytes(y))])
    for name in ["stored", "compressed", "comment", "zip64"]:
        with np.load(os.path.join(NPZ, name + ".npz")) as f:
            assert (f["x"] == x).all(), name
    with np.load(os.path.join(NPZ, "chunks.npz")) as f:
        assert (f["a"] == a).all() and (f["b"] == b).all()


if __name__ == "__main__":
    main()
