"""What llama.cpp allocates for a model at a context size, in bytes: the KV cache per layer
(padded cells, sliding-window layers, f16 or q8_0), the compute buffer of one micro-batch
(attention scores or output logits), the output buffer, and the weights and buffers of a
split between GPU and CPU (`estimate_for_layers`). The planner (planner.py) decides with these;
the rules they follow are in its docstring. Pure functions of ModelFacts.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.core.gguf_facts import ModelFacts

MIB = 1024**2
N_BATCH = 512  # llama-cpp-python's default n_batch and n_ubatch
KV_PAD = 256  # llama.cpp pads n_ctx and the SWA cache to 256 cells
F16_BYTES = 2
# Bytes per K/V value by cache type: q8_0 packs 32 values in 34 bytes (ggml's block_q8_0).
KV_TYPE_BYTES = {"f16": 2.0, "q8_0": 34 / 32}
F32_BYTES = 4
MAX_EMBED_SEQS = 256  # llama_max_parallel_sequences()


@dataclass(frozen=True)
class Usage:
    """Bytes one candidate (n_ctx, n_gpu_layers) needs on each side."""

    gpu_weights: int
    gpu_kv: int
    gpu_compute: int
    ram_weights: int
    ram_kv: int
    ram_compute: int

    @property
    def gpu(self) -> int:
        return self.gpu_weights + self.gpu_kv + self.gpu_compute

    @property
    def ram(self) -> int:
        return self.ram_weights + self.ram_kv + self.ram_compute


# --- sizes ------------------------------------------------------------------------------------


def _pad(n: int, to: int = KV_PAD) -> int:
    return (n + to - 1) // to * to


def ubatch_for(n_ctx: int) -> int:
    """llama-cpp-python: n_batch = min(n_ctx, 512), n_ubatch = min(n_batch, 512)."""
    return min(n_ctx, N_BATCH)


def kv_cells(facts: ModelFacts, layer: int, n_ctx: int, *, swa_full: bool = False) -> int:
    """Cells llama.cpp gives one layer's KV cache (llama_kv_cache_iswa)."""
    size = _pad(n_ctx)
    if facts.swa_layers[layer] and facts.sliding_window and not swa_full:
        return min(size, _pad(facts.sliding_window + ubatch_for(n_ctx)))
    return size


def layer_kv_bytes(
    facts: ModelFacts, layer: int, n_ctx: int, *, swa_full: bool = False, kv_type: str = "f16"
) -> int:
    if not facts.has_kv_cache:
        return 0
    swa = facts.swa_layers[layer]
    k_len = facts.key_length_swa if swa and facts.key_length_swa else facts.key_length
    v_len = facts.value_length_swa if swa and facts.value_length_swa else facts.value_length
    n_kv = facts.head_count_kv[layer]  # 0 for recurrent layers of hybrid models: no cache
    per_cell = n_kv * (k_len + v_len) * KV_TYPE_BYTES[kv_type]
    return int(kv_cells(facts, layer, n_ctx, swa_full=swa_full) * per_cell)


def kv_bytes(facts: ModelFacts, n_ctx: int, *, swa_full: bool = False, kv_type: str = "f16") -> int:
    return sum(
        layer_kv_bytes(facts, il, n_ctx, swa_full=swa_full, kv_type=kv_type)
        for il in range(facts.block_count)
    )


def _attention_bytes(facts: ModelFacts, n_ctx: int, flash: bool = False) -> int:
    """Peak of one layer's attention graph for a full micro-batch. Flash attention never holds
    the KQ scores (it works through them in tiles)."""
    ubatch = ubatch_for(n_ctx)
    if facts.has_kv_cache:
        n_kv = max((kv_cells(facts, il, n_ctx) for il in range(facts.block_count)), default=_pad(n_ctx))
    else:
        n_kv = ubatch  # encoders attend within the batch only
    n_head = max(facts.head_count, default=1) or 1
    scores = 0 if flash else n_kv * ubatch * n_head * F32_BYTES  # KQ, softmaxed in place
    mask = n_kv * ubatch * F32_BYTES
    ffn = facts.feed_forward_length or 4 * facts.embedding_length
    activations = ubatch * (2 * ffn + 4 * facts.embedding_length) * F32_BYTES
    return scores + mask + activations


def _logits_bytes(facts: ModelFacts, n_ctx: int) -> int:
    """The output matmul: n_vocab floats for every token of a micro-batch."""
    if facts.is_embedding_model:
        return 0
    ubatch = ubatch_for(n_ctx)
    # Plus the final hidden states and their norm in front of the matmul.
    return (facts.vocab_size + 3 * facts.embedding_length) * ubatch * F32_BYTES


def compute_bytes(facts: ModelFacts, n_ctx: int, *, flash: bool = False) -> int:
    """Whole compute buffer on one device (what a CPU-only load prints)."""
    graph = max(_attention_bytes(facts, n_ctx, flash), _logits_bytes(facts, n_ctx))
    return graph + _output_buffer(facts, n_ctx)


def _output_buffer(facts: ModelFacts, n_ctx: int) -> int:
    """llama_context's host output buffer (llama_context::output_reserve).

    Chat: logits of one sequence. Embedding models are loaded with embedding=True, where
    llama-cpp-python sets n_seq_max = min(n_batch, 256) and llama.cpp reserves logits plus an
    embedding row for each of those sequences.
    """
    if facts.is_embedding_model:
        n_outputs = min(ubatch_for(n_ctx), MAX_EMBED_SEQS)
        return (facts.vocab_size + facts.embedding_length) * F32_BYTES * n_outputs
    return facts.vocab_size * F32_BYTES


def _gpu_output_bytes(facts: ModelFacts) -> int:
    # Tied embeddings: the output matrix is a GPU copy of token_embd (TENSOR_DUPLICATED).
    # Norms and other small tensors: counted on the GPU too, a few KB of caution.
    output = facts.token_embd_bytes if facts.tied_embeddings else facts.output_bytes
    return output + facts.other_bytes


def estimate_for_layers(facts: ModelFacts, n_ctx: int, n_gpu_layers: int, kv_type: str = "f16") -> Usage:
    """Bytes on each side when llama.cpp loads with these n_ctx and n_gpu_layers (and a
    quantized KV cache, with flash attention, when kv_type is not f16)."""
    n_layer = facts.block_count
    k = max(0, min(n_gpu_layers, n_layer + 1))
    output_on_gpu = k >= 1  # the output layer is the first one offloaded
    first_gpu_block = n_layer - max(k - 1, 0)
    gpu_blocks = range(first_gpu_block, n_layer)
    cpu_blocks = range(0, first_gpu_block)

    gpu_weights = sum(facts.layer_bytes[il] for il in gpu_blocks)
    gpu_weights += _gpu_output_bytes(facts) if output_on_gpu else 0
    total_weights = facts.tensor_bytes or (
        sum(facts.layer_bytes) + facts.output_bytes + facts.token_embd_bytes + facts.other_bytes
    )
    ram_weights = total_weights - sum(facts.layer_bytes[il] for il in gpu_blocks)
    if output_on_gpu and not facts.tied_embeddings:
        ram_weights -= facts.output_bytes  # moved, not copied

    gpu_kv = sum(layer_kv_bytes(facts, il, n_ctx, kv_type=kv_type) for il in gpu_blocks)
    ram_kv = sum(layer_kv_bytes(facts, il, n_ctx, kv_type=kv_type) for il in cpu_blocks)

    attention = _attention_bytes(facts, n_ctx, flash=kv_type != "f16")
    logits = _logits_bytes(facts, n_ctx)
    gpu_compute = ram_compute = 0
    if output_on_gpu:
        gpu_compute = max(attention if len(gpu_blocks) else 0, logits)
        if len(cpu_blocks):
            # ggml's scheduler runs big matmuls of CPU-resident layers on the GPU too, copying
            # one layer's weights over at a time: room for the largest one.
            gpu_compute += max(facts.layer_bytes[il] for il in cpu_blocks)
    if len(cpu_blocks) or not output_on_gpu:
        ram_compute = max(attention, 0 if output_on_gpu else logits)
    ram_compute += _output_buffer(facts, n_ctx)
    return Usage(gpu_weights, gpu_kv, gpu_compute, ram_weights, ram_kv, ram_compute)
