"""Training and inference speed of a cell's model against its char twin, timed interleaved."""

from __future__ import annotations

from typing import Any

from harness.tracks.tokenization.evaluation import encode_ids

SPEED_LENGTHS = (128, 256, 512)


def char_twin(vocab: Any) -> Any:
    """The char vocabulary a word vocabulary was built on (its first ``n_chars`` tokens, same ids)."""
    from harness.models.zh_tokenizers import Vocab

    if not vocab.word_level:
        return vocab
    return Vocab(tokens=vocab.tokens[: vocab.n_chars], n_chars=vocab.n_chars, word_level=False)


def throughput(
    clf: Any, vocab: Any, texts: list[str], n_chars: int, batch: int, reps: int, device: str
) -> dict[str, float]:
    """Training and inference speed on ``batch`` texts of exactly ``n_chars`` characters, for the
    cell's model and, interleaved with it, for its char twin.

    The twin is the same encoder with the char vocabulary's embedding table, fed the char tokens
    of the same texts: the only differences are the sequence length and the table size, which is
    exactly what a word vocabulary changes. Timing the two alternately (order flipped each
    repetition, median of ``reps`` after one warm-up) puts both under the same machine load, so
    ``speedup_*`` (twin time / own time) is far less noisy than a ratio of texts/s measured in
    different cells at different moments. For ``char-bert`` the twin is an identical copy, so its
    speedup (~1.00) shows the timing noise floor.

    Copies are timed, so the measured classifier is never changed. Sequences are not truncated,
    except at the model's maximum positions (512 tokens for a hub BERT: the char twin of a
    512-character text loses its last two characters there).
    """
    import copy
    import time
    from statistics import median

    import torch
    from torch.nn import functional as F

    from harness.data.chinese import fixed_length_texts
    from harness.models.pretrain import pad_batch

    raw = fixed_length_texts(texts, n_chars, batch)
    twin_vocab = char_twin(vocab)
    arms = []
    max_tokens = min(n_chars + 2, clf.encoder.config.max_position_embeddings)  # a hub BERT stops at 512
    for v in (vocab, twin_vocab):
        seqs = encode_ids(v, raw)
        inp, att, _ = pad_batch(seqs, max_tokens)
        model = copy.deepcopy(clf)
        if len(v) != clf.encoder.config.vocab_size:
            model.encoder.resize_token_embeddings(len(v))
        model = model.to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=1e-6, foreach=True)
        arms.append(
            (model, opt, inp.to(device), att.to(device), torch.zeros(len(seqs), dtype=torch.long, device=device))
        )

    def sync() -> None:
        if str(device).startswith("cuda"):
            torch.cuda.synchronize()

    def train_step(model: Any, opt: Any, inp: Any, att: Any, target: Any) -> None:
        model.train()
        loss = F.cross_entropy(model(inp, att), target)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def infer_step(model: Any, opt: Any, inp: Any, att: Any, target: Any) -> None:
        model.eval()
        with torch.no_grad():
            model(inp, att)

    out: dict[str, float] = {}
    for kind, fn in (("train", train_step), ("infer", infer_step)):
        times: list[list[float]] = [[], []]
        for r in range(reps + 1):
            for a in (0, 1) if r % 2 else (1, 0):
                sync()
                t0 = time.perf_counter()
                fn(*arms[a])
                sync()
                if r:
                    times[a].append(time.perf_counter() - t0)
        own, twin = median(times[0]), median(times[1])
        out[f"{kind}_tps_{n_chars}"] = batch / own
        out[f"speedup_{kind}_{n_chars}"] = twin / own
    return out
