"""How a GGUF file's tensor bytes divide up: per layer, output, embedding and the rest, and
per llama.cpp tensor type the layers' matrix parameters (a prompt's cost) and the bytes every
generated token reads (writing's cost). Split from gguf_facts.py, which reads the header
safely and names the model; this only adds up tensors. No Qt here."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from gguf import GGUFReader


@dataclass(frozen=True)
class TensorSizes:
    layers: tuple[int, ...]
    output: int
    token_embd: int
    other: int
    total: int
    vocab: int
    matrix_params: tuple[tuple[str, int], ...]
    decode_bytes_by_type: tuple[tuple[str, int], ...]


def tensor_sizes(reader: GGUFReader, n_layer: int) -> TensorSizes:
    layers = [0] * n_layer
    output = token_embd = other = vocab = 0
    by_type: Counter[str] = Counter()
    read_by_type: Counter[str] = Counter()  # matrices a generated token reads
    output_matrix = embd_matrix = None  # (type, bytes) of output.weight / token_embd.weight
    for tensor in reader.tensors:
        name, n_bytes = tensor.name, int(tensor.n_bytes)
        if name.startswith("blk."):
            index = block_index(name)
            if index is not None and index < n_layer:
                layers[index] += n_bytes
                if len(tensor.shape) >= 2:
                    by_type[tensor.tensor_type.name] += int(tensor.n_elements)
                    read_by_type[tensor.tensor_type.name] += n_bytes
                continue
            other += n_bytes  # a block past block_count (e.g. MTP/nextn layers)
        elif name.startswith("output."):
            output += n_bytes
            if name == "output.weight" and len(tensor.shape) >= 2:
                output_matrix = (tensor.tensor_type.name, n_bytes)
        elif name.startswith("token_embd."):
            token_embd += n_bytes
            if name == "token_embd.weight" and len(tensor.shape) >= 2:
                vocab = int(tensor.shape[-1])  # gguf shape is ggml order: (n_embd, n_vocab)
                embd_matrix = (tensor.tensor_type.name, n_bytes)
        else:
            other += n_bytes
    logits_matrix = output_matrix or embd_matrix  # tied: the logits read token_embd
    if logits_matrix is not None:
        read_by_type[logits_matrix[0]] += logits_matrix[1]
    total = sum(layers) + output + token_embd + other
    return TensorSizes(
        tuple(layers), output, token_embd, other, total, vocab, tuple(by_type.most_common()),
        tuple(read_by_type.most_common()),
    )  # fmt: skip


def block_index(name: str) -> int | None:
    part = name.split(".", 2)[1]
    return int(part) if part.isdigit() else None
