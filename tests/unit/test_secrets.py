"""Credentials in a Qdrant URL are never shown or written (issue 21.5): passwords holding ``/``, ``?``, ``#`` or
``@``, a URL without a scheme, tokens before the host, ``api_key`` query parameters, IPv6 hosts; URLs without
them come back unchanged. The command line masks them, never writes them to a TOML file and refuses them in one;
LangChain's serialisation shows them masked."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from recallrank.cli import main, pipeline
from recallrank.cli.options import to_toml
from recallrank.errors import InvalidInputError
from recallrank.index.server import QdrantServerStore
from recallrank.redact import check_url, has_secret, redact_url
from tests.fakes import HashEncoder

#: (URL, as shown): every secret part is spelled SECRET
MASKED = [
    ("http://user:pa/SECRET@h:6333", "http://user:***@h:6333"),
    ("http://user:pa?SECRET@h", "http://user:***@h"),
    ("http://u:p#SECRET@h", "http://u:***@h"),
    ("user:SECRET@host:6333", "user:***@host:6333"),
    ("http://user:SECRET@h:6333", "http://user:***@h:6333"),
    ("http://user:p@SECRET@h:6333", "http://user:***@h:6333"),
    ("https://SECRET@h:6333", "https://***@h:6333"),  # a token alone: no user name to show
    ("http://:SECRET@h", "http://***@h"),
    ("//user:SECRET@h:6333/prefix", "//user:***@h:6333/prefix"),
    ("http://u:SECRET@[::1]:6333/x?api_key=SECRET&x=1", "http://u:***@[::1]:6333/x?api_key=***&x=1"),
    ("https://h.example:6333/?api-key=SECRET", "https://h.example:6333/?api-key=***"),
    ("http://h:6333?x=1&Token=SECRET#access_token=SECRET", "http://h:6333?x=1&Token=***#access_token=***"),
]
#: URLs without credentials: shown as they are
PLAIN = ["http://localhost:6333", "localhost:6333", "https://xyz.cloud.qdrant.io", "http://[::1]:6333",
         "https://[2001:db8::1]:6333/prefix?timeout=5", "http://h:6333/a/b?x=1&y=2#frag", "h:6333", "http://@h:6333"]


@pytest.mark.parametrize(("url", "shown"), MASKED)
def test_credentials_are_masked_as_the_user_meant_them(url: str, shown: str) -> None:
    assert redact_url(url) == shown and has_secret(url)


@pytest.mark.parametrize("url", PLAIN)
def test_urls_without_credentials_are_unchanged(url: str) -> None:
    assert redact_url(url) == url and not has_secret(url)
    assert check_url(url) == url


@pytest.mark.parametrize("url", ["http://user:pa/SECRET@h:6333", "http://user:pa?SECRET@h", "http://u:p#SECRET@h",
                                 "user:SECRET@host:6333"])
def test_credentials_the_client_would_read_elsewhere_are_refused_masked(url: str) -> None:
    """qdrant-client (urllib3) reads ``http://user:pa/ss@h`` as host ``user``, port ``pa`` and quotes them."""
    with pytest.raises(InvalidInputError, match=r"holds credentials the Qdrant client cannot read") as raised:
        check_url(url, "--url")
    assert "SECRET" not in str(raised.value) and str(redact_url(url)) in str(raised.value)


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    """``main`` in-process, in an empty folder, with no RECALLRANK_* variables; returns (status, stdout, stderr)."""
    monkeypatch.setattr(pipeline, "recall_encoder", lambda *args, **kwargs: HashEncoder())
    for key in [k for k in os.environ if k.startswith("RECALLRANK_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)

    def run(*args: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
        code = main(list(args))
        out = capsys.readouterr()
        return code, out.out, out.err

    return run


@pytest.mark.parametrize("url", [u for u, _ in MASKED])
def test_config_never_prints_or_writes_them(url: str, cli: Any, capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """21.5 as reported: `recallrank config` printed them and `config --write` wrote them."""
    code, out, err = cli("config", "--url", url, capsys=capsys)
    assert "SECRET" not in out + err and (code == 0 or "holds credentials" in err), (code, err)
    monkeypatch.setenv("RECALLRANK_URL", url)
    code, out, err = cli("config", "--write", "rr.toml", capsys=capsys)
    assert "SECRET" not in out + err
    assert not (tmp_path / "rr.toml").exists() or "SECRET" not in (tmp_path / "rr.toml").read_text()
    assert "SECRET" not in to_toml({"url": url, "top_k": 5})


@pytest.mark.parametrize("url", [u for u, _ in MASKED])
def test_a_config_file_holding_them_is_refused(url: str, cli: Any, capsys: pytest.CaptureFixture[str],
                                               tmp_path: Path) -> None:
    """21.5 as reported: a TOML file holding one was accepted. Secrets come from the environment only."""
    (tmp_path / "rr.toml").write_text(f'url = "{url}"\n')
    code, _, err = cli("config", "--config", "rr.toml", capsys=capsys)
    assert code == 2 and "holds credentials" in err and "RECALLRANK_API_KEY" in err and "SECRET" not in err, err


def test_a_search_never_quotes_them(cli: Any, capsys: pytest.CaptureFixture[str]) -> None:
    """The client's own parse error quoted ``user:SECRET`` for a password holding a ``/``."""
    code, out, err = cli("search", "q", "--url", "http://user:SECRET/x@127.0.0.1:9", "--no-rerank", capsys=capsys)
    assert code == 2 and "SECRET" not in out + err and "http://user:***@127.0.0.1:9" in err, err


def _client_reads(url: str) -> bool:
    try:
        check_url(url)
        return True
    except InvalidInputError:
        return False


@pytest.mark.parametrize("url", [u for u, _ in MASKED if _client_reads(u)])
def test_langchain_serialisation_masks_them(url: str) -> None:
    from langchain_core.load import dumps

    from recallrank.langchain import BiEncoderRetriever, RecallrankRetriever

    for cls in (BiEncoderRetriever, RecallrankRetriever):
        retriever = cls(store=QdrantServerStore(url, "docs"))  # nothing connects until the first search
        assert "SECRET" not in dumps(retriever) + repr(retriever)


@pytest.mark.parametrize("url", [u for u, _ in MASKED if not _client_reads(u)])
def test_the_library_refuses_what_the_client_would_split_elsewhere(url: str) -> None:
    """Through the Python API too: the client's own parse error quoted part of the password."""
    with pytest.raises(InvalidInputError, match="holds credentials") as raised:
        QdrantServerStore(url, "docs")
    assert "SECRET" not in str(raised.value)


def test_credentials_in_a_url_are_not_sent_and_the_user_is_told(caplog: pytest.LogCaptureFixture,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """qdrant-client drops a URL's user:password (it authenticates with an API key only): say so, masked."""
    # a framework imported by an earlier test may have run dictConfig, which disables loggers that already exist
    monkeypatch.setattr(logging.getLogger("recallrank.index.server"), "disabled", False)
    with caplog.at_level(logging.WARNING, logger="recallrank.index.server"):
        QdrantServerStore("http://admin:SECRET@h:6333", "docs")
        assert "sends no credentials" in caplog.text and "SECRET" not in caplog.text
        caplog.clear()
        QdrantServerStore("http://h:6333", "docs", api_key="k")
        assert caplog.text == ""
