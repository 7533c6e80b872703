"""The design document's ambiguity example, in English and in Chinese: the company text must score clearly above
the fruit text by the shipped bilingual cross-encoder's own score (no recall score fused), though the texts share
words. (The English MiniLM reranker ranks the company first too, but by 0.03 logits on one English pair.)"""

from __future__ import annotations

import pytest

from recallrank.cli.demo import design_examples
from recallrank.rerank.cross_encoder import CrossEncoderReranker

#: logit margin: a model that cannot tell the two apart scores them within a few hundredths
MARGIN = 1.0


@pytest.fixture(scope="module")
def raw() -> CrossEncoderReranker:
    from recallrank.models._loading import bilingual_reranker_path

    return CrossEncoderReranker(bilingual_reranker_path(), activation="raw", fusion=None)


@pytest.mark.parametrize(("query", "company", "fruit"), design_examples(),
                         ids=["english-demo", "english", "chinese-demo", "chinese-fruit-company"])
def test_company_above_fruit_by_the_cross_encoder_alone(raw: CrossEncoderReranker, query: str, company: str,
                                                        fruit: str) -> None:
    s_company, s_fruit = raw.score(query, [company, fruit])
    assert s_company - s_fruit >= MARGIN, f"{query}: company {s_company:+.2f} vs fruit {s_fruit:+.2f}"
