"""The IDX file format of MNIST and Fashion-MNIST (LeCun et al., http://yann.lecun.com/exdb/mnist/).

Layout: two zero bytes, a dtype code, the number of dimensions ``d``, then ``d`` big-endian
uint32 sizes, then the values in C order, big-endian. Files may be gzip-compressed; gzip is
detected by its magic bytes, not by the file name.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from hebbtorch.errors import HebbtorchError
from hebbtorch.io import atomic_write

# IDX dtype code -> element type (big-endian on disk).
IDX_CODES: dict[int, np.dtype] = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_GZIP_MAGIC = b"\x1f\x8b"


def _code_for(dtype: np.dtype) -> int:
    for code, idx_dtype in IDX_CODES.items():
        if dtype.kind == idx_dtype.kind and dtype.itemsize == idx_dtype.itemsize:
            return code
    names = "uint8, int8, int16, int32, float32, float64"
    raise HebbtorchError(f"IDX cannot store dtype {dtype}; it stores {names}")


def encode_idx(array: np.ndarray) -> bytes:
    """The uncompressed IDX bytes of ``array`` (at least 1-D)."""
    array = np.asarray(array)
    code = _code_for(array.dtype)
    if array.ndim == 0 or array.ndim > 255:
        raise HebbtorchError(f"IDX stores arrays with 1 to 255 dimensions, got {array.ndim}")
    header = struct.pack(f">HBB{array.ndim}I", 0, code, array.ndim, *array.shape)
    return header + np.ascontiguousarray(array, dtype=IDX_CODES[code]).tobytes()


def parse_idx(data: bytes, source: str = "IDX data") -> np.ndarray:
    """Decode uncompressed IDX bytes into a writable native-byte-order array.

    Every malformation (magic, dtype code, header or payload size) raises
    :class:`HebbtorchError` naming ``source`` and what was expected.
    """
    if len(data) < 4:
        raise HebbtorchError(f"{source}: {len(data)} bytes is too short for an IDX header")
    if data[:2] != b"\x00\x00":
        raise HebbtorchError(
            f"{source}: not an IDX file: starts with 0x{data[0]:02x} 0x{data[1]:02x}, "
            "expected 0x00 0x00"
        )
    code, ndim = data[2], data[3]
    if code not in IDX_CODES:
        raise HebbtorchError(f"{source}: unknown IDX dtype code 0x{code:02x}")
    if ndim == 0:
        raise HebbtorchError(f"{source}: IDX header declares 0 dimensions")
    header_len = 4 + 4 * ndim
    if len(data) < header_len:
        raise HebbtorchError(
            f"{source}: truncated inside its header: {len(data)} bytes, "
            f"a {ndim}-dimensional header needs {header_len}"
        )
    shape = struct.unpack(f">{ndim}I", data[4:header_len])
    dtype = IDX_CODES[code]
    expected = header_len + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) != expected:
        what = "truncated" if len(data) < expected else "trailing bytes"
        raise HebbtorchError(
            f"{source}: {what}: header says shape {shape} of {dtype.name} = {expected} bytes "
            f"in all, file has {len(data)} bytes"
        )
    flat = np.frombuffer(data, dtype=dtype, offset=header_len)
    return flat.reshape(shape).astype(dtype.newbyteorder("="))  # copy: writable, native order


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file, gzip-compressed or not."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise HebbtorchError(f"IDX file {path} not found") from None
    except OSError as e:
        raise HebbtorchError(f"cannot read IDX file {path}: {e.strerror or e}") from None
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as e:
            raise HebbtorchError(f"{path}: not a valid gzip file ({e})") from None
    return parse_idx(raw, source=str(path))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> Path:
    """Write ``array`` as IDX, atomically. ``compress`` defaults to whether the name ends in .gz.

    The gzip header carries no time stamp, so equal arrays give byte-identical files.
    """
    path = Path(path)
    data = encode_idx(array)  # validates before anything touches the disk
    if compress if compress is not None else path.suffix == ".gz":
        data = gzip.compress(data, mtime=0)
    return atomic_write(path, lambda f: f.write(data))
