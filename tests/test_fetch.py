"""The real download code against HTTP servers on 127.0.0.1."""

import hashlib
import http.server
import threading

import pytest

from pipeline.errors import PipelineError
from pipeline.fetch import fetch, md5sum

PAYLOAD = bytes(range(256)) * 4096  # 1 MiB
PAYLOAD_MD5 = hashlib.md5(PAYLOAD).hexdigest()


def test_download_verifies_and_renames_into_place(http_dir, tmp_path):
    served, url = http_dir
    (served / "archive.tar.gz").write_bytes(PAYLOAD)
    dest = tmp_path / "cache" / "archive.tar.gz"
    assert fetch(f"{url}/archive.tar.gz", dest, PAYLOAD_MD5) == dest
    assert dest.read_bytes() == PAYLOAD
    assert not list(dest.parent.glob("*.part"))


def test_checksum_mismatch_names_the_checksum_and_leaves_no_file(http_dir, tmp_path):
    served, url = http_dir
    (served / "archive.tar.gz").write_bytes(PAYLOAD)
    dest = tmp_path / "archive.tar.gz"
    with pytest.raises(PipelineError, match=f"MD5 checksum mismatch.*got {PAYLOAD_MD5}.*expects 0{{32}}"):
        fetch(f"{url}/archive.tar.gz", dest, "0" * 32)
    assert list(tmp_path.iterdir()) == [tmp_path / "served"]


def test_an_existing_verified_file_is_not_downloaded_again(tmp_path):
    dest = tmp_path / "archive.tar.gz"
    dest.write_bytes(PAYLOAD)
    assert fetch("http://127.0.0.1:9/never-contacted.tar.gz", dest, PAYLOAD_MD5) == dest


class FlakyRangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves PAYLOAD with Range support; the first response is cut off half-way."""

    requests: list[str | None] = []

    def do_GET(self):
        range_header = self.headers.get("Range")
        self.requests.append(range_header)
        start = int(range_header.split("=")[1].rstrip("-")) if range_header else 0
        body = PAYLOAD[start:]
        self.send_response(206 if start else 200)
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(PAYLOAD) - 1}/{len(PAYLOAD)}")
        self.end_headers()
        if len(self.requests) == 1:
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def flaky_server():
    FlakyRangeHandler.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FlakyRangeHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/aclImdb_v1.tar.gz"
    server.shutdown()
    server.server_close()


def test_a_broken_transfer_is_retried_and_resumed_with_a_range_request(flaky_server, tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.fetch.time.sleep", lambda seconds: None)
    dest = tmp_path / "aclImdb_v1.tar.gz"
    fetch(flaky_server, dest, PAYLOAD_MD5)
    assert md5sum(dest) == PAYLOAD_MD5
    assert FlakyRangeHandler.requests == [None, f"bytes={len(PAYLOAD) // 2}-"]


def test_a_partial_file_from_an_earlier_run_is_resumed(http_dir, tmp_path):
    served, url = http_dir
    (served / "archive.tar.gz").write_bytes(PAYLOAD)
    dest = tmp_path / "archive.tar.gz"
    (tmp_path / "archive.tar.gz.part").write_bytes(PAYLOAD[:1000])
    fetch(f"{url}/archive.tar.gz", dest, PAYLOAD_MD5)
    assert dest.read_bytes() == PAYLOAD


def test_unreachable_url_gives_up_after_bounded_retries_naming_the_url(tmp_path, monkeypatch):
    monkeypatch.setattr("pipeline.fetch.time.sleep", lambda seconds: None)
    with pytest.raises(PipelineError, match=r"could not download http://127.0.0.1:9/x.tar.gz after 4 attempts"):
        fetch("http://127.0.0.1:9/x.tar.gz", tmp_path / "x.tar.gz", PAYLOAD_MD5)


def test_missing_file_on_the_server_is_a_clear_404(http_dir, tmp_path):
    _, url = http_dir
    with pytest.raises(PipelineError, match="404 Not Found"):
        fetch(f"{url}/missing.tar.gz", tmp_path / "missing.tar.gz", PAYLOAD_MD5)


def test_local_paths_and_file_urls_are_verified_in_place(tmp_path):
    archive = tmp_path / "local.tar.gz"
    archive.write_bytes(PAYLOAD)
    assert fetch(str(archive), tmp_path / "unused", PAYLOAD_MD5) == archive
    assert fetch(archive.as_uri(), tmp_path / "unused", PAYLOAD_MD5) == archive
    with pytest.raises(PipelineError, match="no such file"):
        fetch(str(tmp_path / "nope.tar.gz"), tmp_path / "unused", PAYLOAD_MD5)
