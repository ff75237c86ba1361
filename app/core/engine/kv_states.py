"""Each conversation's KV cache kept in RAM while another conversation uses the model, so going
back to a conversation does not evaluate its whole history again."""

from __future__ import annotations

import ctypes
from collections import OrderedDict
from typing import Any


class ConversationStates:
    """Each conversation's KV cache, kept in RAM (LRU, within a byte budget) while another
    conversation uses the model. llama-cpp-python's own LlamaRAMCache also copies the logits
    matrix (n_batch x vocabulary: 512 MB for a 262k vocabulary), so we save only llama.cpp's
    state and the token ids."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self._states: OrderedDict[str, tuple[Any, int, bytes]] = OrderedDict()

    def clear(self) -> None:
        self._states.clear()

    def used_bytes(self) -> int:
        return sum(len(data) for _ids, _n, data in self._states.values())

    def save(self, key: str, llm: Any, raw: Any) -> None:
        size = raw.llama_state_get_size(llm._ctx.ctx)
        if size > self.budget:
            return
        buffer = (ctypes.c_uint8 * size)()
        written = raw.llama_state_get_data(llm._ctx.ctx, buffer, size)
        n_tokens = llm.n_tokens
        self._states[key] = (llm._input_ids[:n_tokens].copy(), n_tokens, bytes(buffer)[:written])
        self._states.move_to_end(key)
        while self.used_bytes() > self.budget and len(self._states) > 1:
            self._states.popitem(last=False)

    def restore(self, key: str, llm: Any, raw: Any) -> bool:
        saved = self._states.get(key)
        if saved is None:
            return False
        input_ids, n_tokens, data = saved
        buffer = (ctypes.c_uint8 * len(data)).from_buffer_copy(data)
        if raw.llama_state_set_data(llm._ctx.ctx, buffer, len(data)) != len(data):
            return False
        llm.n_tokens = n_tokens
        llm._input_ids[:n_tokens] = input_ids
        self._states.move_to_end(key)
        return True


def state_budget() -> int:
    import psutil

    return int(min(2 * 1024**3, psutil.virtual_memory().available * 0.15))
