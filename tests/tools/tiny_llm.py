"""Generate tests/data/tiny_llm/: tiny random decoder checkpoints and the logits transformers gives them.

Not part of the test suite and not a runtime dependency (needs `pip install torch==2.13.0 transformers`).
Writes, for each model type below, a folder with what a real Hugging Face checkpoint has:
config.json, model.safetensors (BF16, seeded random weights), tokenizer.json (a byte-level BPE with a
64-token vocabulary trained on TEXT), plus reference.npz: the token ids of TEXT cut into windows and
the float32 logits transformers' own modelling code computes for them (eager attention, weights
widened to float32). tests/test_accuracy_llm.py checks hwsim.accuracy.llm against these without torch.

Weights are N(0, 1/fan_in) (embeddings N(0, 0.25²), norm gains 1 + N(0, 0.1²)): HF's own 0.02 init gives
near-uniform next-token distributions, where quantization error barely shows in KL.

Run: python tests/tools/tiny_llm.py   (a few seconds)
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers, decoders
from transformers import AutoConfig, AutoModelForCausalLM

OUT = Path(__file__).resolve().parents[1] / "data" / "tiny_llm"
WINDOW = 24
TEXT = (
    "the quick brown fox jumps over the lazy dog. a small model reads a short text and predicts the "
    "next token. quantized weights change the logits a little; we measure how much. the cat sat on "
    "the mat while the dog slept in the sun. numbers like 1, 2 and 3 appear too.\n"
)
CALIBRATION = (
    "calibration text is different from the evaluation text. it has other words, such as river, "
    "mountain, bread and music, so a method is not fitted to what it is measured on.\n"
)
COMMON = dict(
    vocab_size=64,
    hidden_size=32,
    intermediate_size=64,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=8,
    max_position_embeddings=64,
    rms_norm_eps=1e-6,
    hidden_act="silu",
    bos_token_id=None,
    eos_token_id=None,
    pad_token_id=None,
)
MODELS = {
    # Llama with tied embeddings and Llama-3 RoPE scaling (original context 16: some frequencies scaled)
    "llama": dict(
        model_type="llama",
        tie_word_embeddings=True,
        attention_bias=False,
        mlp_bias=False,
        rope_parameters={
            "rope_type": "llama3",
            "rope_theta": 10000.0,
            "factor": 4.0,
            "low_freq_factor": 1.0,
            "high_freq_factor": 4.0,
            "original_max_position_embeddings": 16,
        },
    ),
    # Qwen2: biases on q/k/v, untied head
    "qwen2": dict(
        model_type="qwen2", tie_word_embeddings=False, rope_parameters={"rope_type": "default", "rope_theta": 1e6}
    ),
    # Qwen3: RMSNorm on each head's q and k, untied head
    "qwen3": dict(
        model_type="qwen3",
        tie_word_embeddings=False,
        attention_bias=False,
        rope_parameters={"rope_type": "default", "rope_theta": 1e6},
    ),
}


def tokenizer() -> Tokenizer:
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    chars = sorted(set(TEXT + CALIBRATION))
    trainer = trainers.BpeTrainer(vocab_size=COMMON["vocab_size"], initial_alphabet=chars, show_progress=False)
    tok.train_from_iterator([TEXT, CALIBRATION], trainer)
    assert tok.get_vocab_size() <= COMMON["vocab_size"], tok.get_vocab_size()
    return tok


def init_weights(model: torch.nn.Module, seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:
                p.copy_(1.0 + 0.1 * torch.randn(p.shape, generator=g))
            elif name.endswith("bias"):
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
            elif "embed_tokens" in name:
                p.copy_(0.25 * torch.randn(p.shape, generator=g))  # tied head: keeps logits O(1)
            else:
                p.copy_(torch.randn(p.shape, generator=g) / p.shape[-1] ** 0.5)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "text.txt").write_text(TEXT)
    (OUT / "calibration.txt").write_text(CALIBRATION)
    tok = tokenizer()
    ids = tok.encode(TEXT).ids
    n = len(ids) // WINDOW
    windows = np.array(ids[: n * WINDOW], dtype=np.int64).reshape(n, WINDOW)
    for seed, (name, extra) in enumerate(MODELS.items()):
        folder = OUT / name
        shutil.rmtree(folder, ignore_errors=True)
        cfg = AutoConfig.for_model(**{**COMMON, **extra})
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(cfg, attn_implementation="eager")
        init_weights(model, seed)
        model.to(torch.bfloat16).save_pretrained(folder)
        tok.save(str(folder / "tokenizer.json"))
        # reload from disk as float32: the reference sees exactly the BF16 weights the files hold
        ref = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32, attn_implementation="eager")
        ref.eval()
        with torch.no_grad():
            logits = ref(torch.from_numpy(windows)).logits.numpy().astype(np.float32)
        # all windows for perplexity, logits of the first two only (enough to pin the forward pass, and small)
        np.savez_compressed(folder / "reference.npz", ids=windows, logits=logits[:2])
        (folder / "generation_config.json").unlink(missing_ok=True)
        print(name, windows.shape, logits.shape, json.loads((folder / "config.json").read_text())["model_type"])


if __name__ == "__main__":
    main()
