from pathlib import Path

import pytest

from recallrank import DatasetError, load_beir, load_dataset
from recallrank.datasets import available, save_beir
from recipes.data.debian import debian_pairs
from recipes.data.dictd import _B64, dictionary_pairs
from recipes.data.pairs import Pair, deduplicate, split_of, split_pairs

TRANSLATION = """Package: 0ad
Description-md5: d943033bedada21853d2ae54a2578a7b
Description-en: Real-time strategy game of ancient warfare
 0 A.D. is a free, open-source, cross-platform
 real-time strategy game of ancient warfare.
 .
 This package contains the game.

Package: 0ad-data
Description-md5: 26581e685027d5ae84824362a4ba59ee
Description-en: Real-time strategy game of ancient warfare (data files)
 0 A.D. is a free, open-source, cross-platform
 real-time strategy game of ancient warfare.
 .
 This package contains the data files.

Package: tiny
Description-md5: 0
Description-en: too short
 x
"""


def test_debian_parser_keeps_paragraphs_and_groups_families(tmp_path: Path) -> None:
    f = tmp_path / "Translation-en"
    f.write_text(TRANSLATION)
    pairs = list(debian_pairs(f, "en"))
    assert [p.key for p in pairs] == ["en:0ad", "en:0ad-data"]
    assert pairs[0].query == "Real-time strategy game of ancient warfare"
    assert pairs[0].text.split("\n") == ["0 A.D. is a free, open-source, cross-platform real-time strategy game of "
                                         "ancient warfare.", "This package contains the game."]
    assert pairs[0].group == pairs[1].group  # same source family -> same split
    assert split_of(pairs[0].group) == split_of(pairs[1].group)


def _encode(n: int) -> str:
    out = ""
    while True:
        out = _B64[n % 64] + out
        n //= 64
        if n == 0:
            return out


def test_dictd_reader(tmp_path: Path) -> None:
    import gzip

    entries = [("latency", "latency\n\n   <performance> The time between a request and its {response "
                "(response.html)} being received by the client.\n\n   (2003-01-01)\n"),
               ("x", "x\n  too short\n")]
    blob, index = b"", []
    for word, text in entries:
        data = text.encode()
        index.append(f"{word}\t{_encode(len(blob))}\t{_encode(len(data))}")
        blob += data
    (tmp_path / "t.dict.dz").write_bytes(gzip.compress(blob))
    (tmp_path / "t.index").write_text("\n".join(index) + "\n")
    pairs = list(dictionary_pairs("t", tmp_path / "t.index", tmp_path / "t.dict.dz", min_chars=30))
    assert len(pairs) == 1
    assert pairs[0].query == "latency"
    assert pairs[0].text == ("<performance> The time between a request and its response being received by the client.")


def test_dedup_drops_repeated_texts_and_queries() -> None:
    pairs = [Pair("a", "q one", "text", "g"), Pair("b", "q two", "text", "g"), Pair("c", "Q  ONE", "other", "g"),
             Pair("d", "q three", "third", "g")]
    assert [p.key for p in deduplicate(pairs)] == ["a", "d"]


def test_split_is_deterministic_and_covers_all() -> None:
    pairs = [Pair(str(i), f"query {i}", f"text {i}", f"group {i % 50}") for i in range(1000)]
    a, b = split_pairs(pairs), split_pairs(list(pairs))
    assert {k: [p.key for p in v] for k, v in a.items()} == {k: [p.key for p in v] for k, v in b.items()}
    assert sum(len(v) for v in a.values()) == 1000
    assert all(a[s] for s in ("train", "dev", "test"))


def test_frozen_splits_ship_and_are_disjoint_from_each_other() -> None:
    names = available()
    assert {"debian-en", "debian-zh", "python-docs", "foldoc", "wordnet"} <= set(names)
    test, dev = load_dataset("debian-en", "test"), load_dataset("debian-en", "dev")
    assert test.stats() == {"documents": 5000, "queries": 500, "judgements": 500}
    assert not set(test.corpus) & set(dev.corpus)
    zh = load_dataset("debian-zh", "test")
    assert any("\u4e00" <= ch <= "\u9fff" for ch in next(iter(zh.queries.values())))


def test_beir_roundtrip_and_errors(tmp_path: Path) -> None:
    ds = load_dataset("foldoc", "dev").subset(5)
    save_beir(ds, tmp_path / "beir", split="test")
    again = load_beir(tmp_path / "beir", split="test")
    assert again.queries == ds.queries and again.qrels == ds.qrels and again.corpus == ds.corpus
    assert load_dataset(str(tmp_path / "beir")).queries == ds.queries
    with pytest.raises(DatasetError, match=r"qrels/dev.tsv"):
        load_beir(tmp_path / "beir", split="dev")
    with pytest.raises(DatasetError, match="unknown dataset"):
        load_dataset("no-such-set")
    with pytest.raises(DatasetError, match="no 'dev' split"):
        load_dataset("wordnet", "dev")


def test_faq_parsers_read_pod_text_and_generated_html_headings() -> None:
    from recipes.data.faq import html_sections, pod_sections, text_sections, train_pairs

    pod = ("=head1 NAME\n\nperlfaq4 - Data Manipulation\n\n=head2 How do I count the lines of a file?\n"
           "X<file, counting lines>\n\nUse C<wc -l> or a loop over B<< <$fh> >>.\n\n=head2 Next?\n")
    assert list(pod_sections(pod))[1] == ("How do I count the lines of a file?", "Use wc -l or a loop over <$fh>.")
    text = ("Table of contents\n\n  3.1 How do I use curl with a proxy?\n  --------------------\n\n"
            "  Set -x to the proxy URL.\n  It works for HTTPS too.\n\n"
            "== Why is chrony faster than ntpd? ==\n\nIt is.\n")
    assert list(text_sections(text)) == [
        ("How do I use curl with a proxy?", "Set -x to the proxy URL. It works for HTTPS too."),
        ("Why is chrony faster than ntpd?", "It is.")]
    html = ("<h2>How do I configure logging?<a href='#x'>¶</a></h2><p>Use the <code>echo</code> flag.</p>"
            "<h3>1.2 Which codecs are supported?# TOC</h3><p>Many.</p>")
    assert list(html_sections(html)) == [("How do I configure logging?", "Use the echo flag."),
                                         ("Which codecs are supported?", "Many.")]
    assert train_pairs({}) == []


def test_heading_pairs_keep_chapters_together_and_drop_untranslated_chinese(tmp_path: Path) -> None:
    from recipes.data.faq import heading_pairs

    book = tmp_path / "usr/share/doc/book/html"
    book.mkdir(parents=True)
    body = "为了尽可能的自动安装，安装程序尝试着自动配置网络。" * 4
    (book / "install.html").write_text(f"<h2>6.2. 配置网络</h2><p>{body}</p><h2>Partitioning</h2><p>{'x ' * 100}</p>"
                                       f"<h2>分区</h2><p>short</p>", encoding="utf-8")
    pairs = heading_pairs({"book": tmp_path}, {"book": ("usr/share/doc/book/html/*.html",)}, chinese=True)
    assert [(p.query, p.group) for p in pairs] == [("配置网络", "book/install")]
    english = heading_pairs({"book": tmp_path}, {"book": ("usr/share/doc/book/html/*.html",)})
    assert [p.query for p in english] == ["Partitioning"]  # 96 characters are too few for an English section


def test_mallard_pages_give_title_desc_and_body() -> None:
    from recipes.data.faq import mallard_page

    page = ('<page xmlns="http://projectmallard.org/1.0/" id="x"><info><desc>使用较大字体。</desc></info>'
            '<title>更改文字大小</title><p>打开 <gui>设置</gui> 然后更改。</p>'
            '<steps><item><p>第二步</p></item></steps></page>')
    assert mallard_page(page) == ("更改文字大小", "使用较大字体。", "打开 设置 然后更改。 第二步")
    assert mallard_page("<not xml") is None


def test_the_chinese_help_set_is_shipped_and_held_out() -> None:
    from recallrank.datasets import available, load_dataset

    assert "test" in available()["gnome-help-zh"]
    ds = load_dataset("gnome-help-zh", "test")
    assert ds.stats()["queries"] == ds.stats()["documents"] > 100


def test_bold_question_faqs() -> None:
    from recipes.data.faq import bold_q_sections

    html = ('<P><A NAME="Q1"><B>Q1</A>. Where can I discuss Graphviz?</B><P>We run a <A HREF="x">mailing list</A>.'
            '<P><A NAME="Q2"><B>Q2</A>. How do I make a layout larger?</B><P>Set size.')
    assert list(bold_q_sections(html)) == [("Where can I discuss Graphviz?", "We run a mailing list ."),
                                           ("How do I make a layout larger?", "Set size.")]


def test_gettext_catalogs_give_english_chinese_pairs(tmp_path: Path) -> None:
    import struct

    from recipes.data.faq import catalog_pairs

    messages = {"": "Content-Type: text/plain; charset=UTF-8\n", "Toggle the case sensitivity": "切换区分大小写",
                "Saved %d lines": "已保存 %d 行", "ButtonBar|Dynamic": "ButtonBar|动态", "Quit": "退出",
                "Search backwards": "Search backwards"}
    keys = sorted(messages)
    ids, strs = (b"".join(k.encode() + b"\0" for k in keys), b"".join(messages[k].encode() + b"\0" for k in keys))
    start = 28 + 16 * len(keys)
    id_table, str_table, offset = b"", b"", 0
    for k in keys:
        id_table += struct.pack("<2I", len(k.encode()), start + offset)
        offset += len(k.encode()) + 1
    for k in keys:
        str_table += struct.pack("<2I", len(messages[k].encode()), start + offset)
        offset += len(messages[k].encode()) + 1
    mo = tmp_path / "usr/share/locale/zh_CN/LC_MESSAGES/nano.mo"
    mo.parent.mkdir(parents=True)
    mo.write_bytes(struct.pack("<7I", 0x950412DE, 0, len(keys), 28, 28 + 8 * len(keys), 0, 0)
                   + id_table + str_table + ids + strs)
    pairs = catalog_pairs({"nano": tmp_path})
    assert [(p.query, p.text, p.group) for p in pairs] == [
        ("Toggle the case sensitivity", "切换区分大小写", "nano/nano")]
