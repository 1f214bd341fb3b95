"""Writes the fuzz seed corpora from the shared conformance data (never committed).

    python3 tests/fuzz/make_seeds.py OUTDIR

OUTDIR/http/ gets every llhttp request case and every desync-guardian case behind the two
control bytes http_fuzz.c reads first (limits selector, piece-size seed), with production
limits and with small ones. OUTDIR/conn/ gets the same requests as conn_fuzz.c scripts:
the request in receive events of up to 32 bytes, then send completions, then the peer's
close (the extra pipelining seeds also behind a PROXY protocol header). The cases are read in place from ../shared/conformance
(tests/conformance/conformance_cases.py).
"""
import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "conformance"))
from conformance_cases import desync_cases, llhttp_cases  # noqa: E402

# Pipelining and keep-alive seeds the corpora lack: several requests in one stream.
EXTRA = [
    b"GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n"
    b"X-T: v\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n",
    b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello",
    b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n",
]


def conn_script(data, app_mode=0, flags=1):
    """A conn_fuzz.c input: receive events carrying data, then completions, then EOF."""
    out = bytearray([app_mode, flags])
    for i in range(0, len(data), 32):
        piece = data[i:i + 32]
        out.append((len(piece) - 1) << 3)   # command 0: receive len(piece) bytes
        out += piece
    out += bytes([4] * 6)                   # complete the oldest operation, fully
    out.append(3)                           # the peer closes
    return bytes(out)


# The same requests behind a PROXY protocol header (conn_fuzz.c's flag 32): v1, and v2 with
# an IPv4 address block and an SSL TLV.
PP_V1 = b"PROXY TCP4 192.0.2.1 198.51.100.2 56324 443\r\n"
PP_V2 = (b"\r\n\r\n\x00\r\nQUIT\n\x21\x11\x00\x14" + bytes([192, 0, 2, 1, 198, 51, 100, 2])
         + b"\xdc\x04\x01\xbb" + b"\x20\x00\x05\x01\x00\x00\x00\x00")


def write(folder, blob):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(blob).hexdigest()).write_bytes(blob)


def main(out):
    out = Path(out)
    requests = [c.data for c in llhttp_cases()] + [c.data for c in desync_cases()] + EXTRA
    n = 0
    for data in requests:
        data = data[:4096]  # the 4 MB desync body adds nothing but run time
        for sel in (0x01, 0x00, 0x96):
            write(out / "http", bytes([sel, len(data) & 0xff]) + data)
        write(out / "conn", conn_script(data))
        for pp in (PP_V1, PP_V2) if data in EXTRA else ():
            write(out / "conn", conn_script(pp + data, flags=1 | 32))
        n += 1
    print(f"{n} requests -> {out}/http, {out}/conn")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "work" / "seeds")
