"""Downloads of the named IDX data sets: several mirrors, retries with back-off, MD5 checks,
and atomic writes (a failed or interrupted transfer never leaves a partial file)."""

from __future__ import annotations

import hashlib
import os
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from tqdm import tqdm

from hebbtorch.errors import HebbtorchError

# The checksums are those torchvision publishes for the same files.
MIRRORS: dict[str, tuple[str, ...]] = {
    "mnist": (
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ),
    "fashion-mnist": (
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ),
}
MD5S: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion-mnist": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}
_CHUNK = 1 << 16


class _ChecksumError(Exception):
    """A complete transfer with the wrong content: retrying the same URL will not help."""


def md5sum(path: str | Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _fetch(url: str, dest: Path, md5: str | None, timeout: float, progress: bool) -> None:
    """One transfer of ``url`` into ``dest`` via a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            total = int(resp.headers.get("Content-Length") or 0) or None
            received = 0
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name,
                      disable=not progress, leave=False) as bar:
                while block := resp.read(_CHUNK):
                    out.write(block)
                    received += len(block)
                    bar.update(len(block))
            if total is not None and received != total:
                raise OSError(f"connection closed after {received} of {total} bytes")
        if md5 is not None and (got := md5sum(tmp)) != md5:
            raise _ChecksumError(f"checksum mismatch: got md5 {got}, expected md5 {md5}")
        os.replace(tmp, dest)
    finally:
        Path(tmp).unlink(missing_ok=True)


def download_file(urls: str | Sequence[str], dest: str | Path, md5: str | None, *,
                  retries: int = 3, backoff: float = 1.0, timeout: float = 30.0,
                  progress: bool = True) -> Path:
    """Download ``dest`` from the first mirror in ``urls`` that works, checking its MD5.

    Each round tries every mirror once; rounds repeat up to ``retries`` times with
    ``backoff * 2**round`` seconds between them. A mirror that served wrong content is not
    asked again. Raises :class:`HebbtorchError` listing every failure.
    """
    urls = [urls] if isinstance(urls, str) else list(urls)
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    failures: list[str] = []
    bad: set[str] = set()
    for attempt in range(1, retries + 1):
        for url in (u for u in urls if u not in bad):
            try:
                _fetch(url, dest, md5, timeout, progress)
                return dest
            except _ChecksumError as e:
                bad.add(url)
                failures.append(f"{url} (attempt {attempt}/{retries}): {e}")
            except (urllib.error.URLError, OSError) as e:
                reason = getattr(e, "reason", None) or e
                failures.append(f"{url} (attempt {attempt}/{retries}): {reason}")
        if len(bad) == len(urls):
            break
        if attempt < retries and backoff > 0:
            time.sleep(backoff * 2 ** (attempt - 1))
    raise HebbtorchError(
        f"could not download {dest.name}: every mirror failed; " + "; ".join(failures)
    )


def download_dataset(name: str, root: str | Path, *, mirrors: Sequence[str] | None = None,
                     md5s: dict[str, str] | None = None, progress: bool = True,
                     backoff: float = 1.0) -> Path:
    """Download the four IDX files of ``name`` into ``root``; files already there with the
    right MD5 are kept without touching the network. Returns ``root``."""
    if name not in MIRRORS and mirrors is None:
        raise HebbtorchError(
            f"no download source for {name!r}; downloadable: {', '.join(MIRRORS)}"
        )
    mirrors = list(mirrors if mirrors is not None else MIRRORS[name])
    md5s = md5s if md5s is not None else MD5S[name]
    root = Path(root)
    for filename, md5 in md5s.items():
        dest = root / filename
        if dest.is_file() and md5sum(dest) == md5:
            continue
        download_file([m + filename for m in mirrors], dest, md5, progress=progress,
                      backoff=backoff)
    return root
