"""Su 2020 (kexue.fm 7764), RoBERTa-wwm-ext base (his M2): valid / test accuracy %, ~200 labels."""

SU_ZERO_P1 = "Su: P1 zero-shot 85.17 / 84.27 (M2; 66.9-85.2 over four BERTs)"
SU_PREFIX_SUFFIX = "Su: zero-shot P1 85.17 vs P2 70.63 (valid; test 84.27 vs 68.69)"
SU_FT_PREFIX_SUFFIX = "Su: after few-shot PET P1 89.29 vs P2 84.71 (valid; test 89.18 vs 82.76)"
SU_PET_HEAD = "Su: PET P1 89.29 vs fine-tuned head 88.93 (valid; test 89.18 vs 89.34), ~1% labels"
SU_SEMI = "Su: semi-supervised 90.09 vs PET 89.29 (valid; test 89.76 vs 89.18)"
TINY = (
    " A tiny model pretrained on a few MB will not reach Su's absolute numbers: the quick backbone is a "
    "1.1M-parameter char MLM after 1,000 steps on ~3.4M characters (MLM loss ~6.0 nats, near the "
    "unigram level), Su's a 100M-parameter RoBERTa-wwm-ext."
)
