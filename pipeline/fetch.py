"""Download a file so that only a complete, checksum-verified copy ever sits at its final path.

Bytes stream into `<dest>.part`; an interrupted transfer resumes from there with an HTTP Range request,
and the file is renamed into place only once its MD5 matches.
"""

from __future__ import annotations

import hashlib
import http.client
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import unquote, urlparse

from tqdm import tqdm

from pipeline.errors import PipelineError

CHUNK_BYTES = 1 << 20


def md5sum(path: Path) -> str:
    digest = hashlib.md5()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def local_path(url: str) -> Path | None:
    """The file a `file://` URL or plain path names; None for a remote URL."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme in ("http", "https"):
        return None
    return Path(url)


def fetch(url: str, dest: Path, md5: str, *, attempts: int = 4, timeout: float = 30.0) -> Path:
    """Return a verified local copy of `url`: the file itself for a local path, else `dest`."""
    source = local_path(url)
    if source is not None:
        if not source.is_file():
            raise PipelineError(f"data.url {url!r}: no such file; set data.url to the IMDB archive's URL or path")
        _verify(source, md5, url)
        return source
    if dest.is_file() and md5sum(dest) == md5.lower():
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for attempt in range(attempts):
        try:
            _download(url, partial, timeout)
            break
        except (urllib.error.URLError, http.client.HTTPException, OSError) as error:
            if isinstance(error, urllib.error.HTTPError) and error.code == 404:
                raise PipelineError(f"data.url {url} answered 404 Not Found: check the URL") from None
            last_error = error
            if attempt + 1 < attempts:
                time.sleep(min(2**attempt, 10))
    else:
        raise PipelineError(
            f"could not download {url} after {attempts} attempts ({last_error}); "
            f"check the network or point data.url at a local copy (the partial file is kept and resumed next time)"
        )
    try:
        _verify(partial, md5, url)
    except PipelineError:
        partial.unlink()
        raise
    partial.replace(dest)
    return dest


def _download(url: str, partial: Path, timeout: float) -> None:
    """Append the rest of `url` to `partial`, resuming where an earlier attempt stopped."""
    offset = partial.stat().st_size if partial.exists() else 0
    request = urllib.request.Request(url, headers={"Range": f"bytes={offset}-"} if offset else {})
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        if error.code == 416 and offset:  # range past the end: the partial file is already whole
            return
        raise
    with response:
        resumed = offset > 0 and response.status == 206
        if not resumed:
            offset = 0
        remaining = int(response.headers.get("Content-Length") or 0)
        expected = offset + remaining if remaining else None
        with partial.open("ab" if resumed else "wb") as out, tqdm(
            total=expected, initial=offset, unit="B", unit_scale=True, desc=Path(urlparse(url).path).name
        ) as progress:
            while chunk := response.read(CHUNK_BYTES):
                out.write(chunk)
                progress.update(len(chunk))
    if expected is not None and partial.stat().st_size < expected:
        raise http.client.IncompleteRead(b"", expected - partial.stat().st_size)


def _verify(path: Path, md5: str, url: str) -> None:
    actual = md5sum(path)
    if actual != md5.lower():
        raise PipelineError(
            f"MD5 checksum mismatch for {url}: got {actual}, data.md5 expects {md5.lower()}; "
            f"the file is corrupt or a different archive: fix data.url or data.md5"
        )
