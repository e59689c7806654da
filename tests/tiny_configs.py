"""Tiny model configs several test modules build checkpoints from (config.json fields as Hugging Face writes them)."""

# a 2-layer Llama: hidden 256 (two groups of 128), MLP 512, 4 heads, a 4096-token vocabulary
TINY_LLAMA = {
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_attention_heads": 4,
    "num_hidden_layers": 2,
    "vocab_size": 4096,
}
