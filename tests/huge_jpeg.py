"""A valid grey JPEG of any size, written in milliseconds without holding its pixels.

Encoding a real 20000x20000 photo needs the 1.2 GB of pixels first. This one is built by hand: a
baseline greyscale JPEG whose every 8x8 block has the DC value of mid-grey and no AC coefficients.
With one-code Huffman tables each block costs two zero bits, so the file is ~1.6 MB for 20000x20000
and every decoder (libjpeg, OpenCV, Pillow, TensorFlow) decodes it to grey 128.
"""

from __future__ import annotations

import struct
from pathlib import Path

GREY = 128


def write_grey_jpeg(path: Path, width: int, height: int) -> Path:
    def segment(marker: int, body: bytes) -> bytes:
        return struct.pack(">HH", marker, len(body) + 2) + body

    quantization = segment(0xFFDB, bytes([0x00]) + bytes([1] * 64))
    frame = segment(0xFFC0, struct.pack(">BHHB", 8, height, width, 1) + bytes([1, 0x11, 0]))
    # One code of length 1 ("0") per table: DC category 0 (no difference), AC end-of-block.
    dc_table = segment(0xFFC4, bytes([0x00]) + bytes([1] + [0] * 15) + bytes([0x00]))
    ac_table = segment(0xFFC4, bytes([0x10]) + bytes([1] + [0] * 15) + bytes([0x00]))
    scan = segment(0xFFDA, bytes([1, 1, 0x00, 0, 63, 0]))
    blocks = -(-width // 8) * -(-height // 8)
    bits = 2 * blocks
    data = bytearray(-(-bits // 8))
    if bits % 8:
        data[-1] = (1 << (8 - bits % 8)) - 1  # pad the last byte with 1 bits, as the standard asks
    path.write_bytes(b"\xff\xd8" + quantization + frame + dc_table + ac_table + scan + bytes(data) + b"\xff\xd9")
    return path
