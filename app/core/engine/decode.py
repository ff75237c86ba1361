"""The engine host's decode loop: llama.cpp's own sampler chain and llama_decode, one token at a
time, with as little Python per token as we can manage.

Why not llama-cpp-python's create_completion: for every token it detokenizes the whole answer
so far (twice when streaming), scans it for stop strings and builds a few dicts; on a small
model that is several per cent of each token (measured: the window got ~0.94 of llama.cpp's
eval tokens/s). Here each token costs one sample call, one piece lookup, a look at the last few
bytes for stop strings and one decode call.

What stays exactly as llama-cpp-python does it, so answers do not change: the prompt (the same
chat formatter and tokenization create_chat_completion uses), the sampler chain (same samplers
in the same order, same seed handling), the KV cache prefix reuse across turns (llm.input_ids /
llm.n_tokens stay consistent, so the library path and ConversationStates keep working), EOG
tokens end the answer, and the last sampled token is not evaluated (the next turn's prompt
evaluates it). Two deliberate differences, both at the edges:
- max_tokens is a hard limit. The library keeps sampling past it while the last character is
  an incomplete multi-byte sequence; here the incomplete bytes are dropped.
- With several stop strings in the text at once, the earliest one ends the answer (the library
  takes the first in list order while streaming).

Sampling (sampling.py) skips llama_sampler_sample's copy of the whole vocabulary where it can,
and gives the same token as the library for the same seed.

ENCLAVE_DECODE_LOOP=library switches back to llama-cpp-python's loop, for comparison.

Speculative decoding (speculation.py): a draft source (prompt lookup, prompt_lookup.py; a draft
model, draft_model.py) proposes tokens, checked in one batch by sampling at each position as
the one-token loop would, with any sampler.
"""

from __future__ import annotations

import codecs
import ctypes
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from app.core.engine.sampling import Penalties, SamplerChain, TopKCut
from app.core.engine.speculation import DraftSource

SWITCH_ENV = "ENCLAVE_DECODE_LOOP"


def library_loop_wanted() -> bool:
    """True when ENCLAVE_DECODE_LOOP=library asks for llama-cpp-python's create_*completion."""
    return os.environ.get(SWITCH_ENV, "").strip().lower() == "library"


@dataclass(frozen=True)
class Prompt:
    tokens: list[int]
    stops: list[str] = field(default_factory=list)
    # Jinja templates' stopping criterion: the answer ends when the last evaluated token is one
    # of these (llama-cpp-python checks it in the same place, before each sampled token).
    stop_token_ids: frozenset[int] = frozenset()
    strip_leading_space: bool = False  # an empty completion prompt: the library strips it too


def _formatter_of(handler: Any) -> Any:
    """The ChatFormatter inside a handler made by chat_formatter_to_chat_completion_handler, or
    None for handlers that do more than format (functionary, vision): those keep the library."""
    code = getattr(handler, "__code__", None)
    closure = getattr(handler, "__closure__", None)
    if code is None or not closure or "chat_formatter_to_chat_completion_handler" not in getattr(
        handler, "__qualname__", ""
    ):
        return None
    for name, cell in zip(code.co_freevars, closure, strict=False):
        if name == "chat_formatter":
            return cell.cell_contents
    return None


def chat_prompt(
    llm: Any, messages: list[dict[str, Any]], tools: Any, tool_choice: Any, stop: Sequence[str]
) -> Prompt | None:
    """The prompt create_chat_completion would build for these messages (same handler choice,
    same formatter call, same tokenization), or None when the handler is not a plain formatter."""
    from llama_cpp import llama_chat_format

    handler = (
        llm.chat_handler
        or llm._chat_handlers.get(llm.chat_format)
        or llama_chat_format.get_chat_completion_handler(llm.chat_format)
    )
    formatter = _formatter_of(handler)
    if formatter is None:
        return None
    result = formatter(
        messages=messages, functions=None, function_call=None, tools=tools, tool_choice=tool_choice
    )
    stop_ids: frozenset[int] = frozenset()
    if result.stopping_criteria is not None:
        if not isinstance(formatter, llama_chat_format.Jinja2ChatFormatter):
            return None  # a criterion we cannot read: let the library apply it
        stop_ids = frozenset(formatter.stop_token_ids or ())
    tokens = llm.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)
    stops = list(stop)
    if result.stop is not None:
        stops += result.stop if isinstance(result.stop, list) else [result.stop]
    return Prompt(tokens=tokens, stops=stops, stop_token_ids=stop_ids)


def completion_prompt(llm: Any, prompt: str, stop: Sequence[str]) -> Prompt | None:
    """The tokens create_completion builds for a text prompt (BOS/CLS and SEP as it adds them);
    None for an empty prompt (the library's special case, left to it)."""
    if not prompt:
        return None
    model = llm._model
    bos = llm.token_bos()
    cls, sep = model.token_cls(), model.token_sep()
    bos_tokens = [cls if cls != -1 else bos]
    if not model.add_bos_token() or bos_tokens[:1] == [-1]:
        bos_tokens = []
    eos_tokens = [sep if sep != -1 else llm.token_eos()]
    if not model.add_eos_token() and sep == -1:
        eos_tokens = []
    tokens = bos_tokens + llm.tokenize(prompt.encode("utf-8"), add_bos=False, special=True) + eos_tokens
    return Prompt(tokens=tokens, stops=list(stop))


def catch_up(llm: Any, tokens: Any) -> None:
    """Make llm's KV cache hold `tokens` with fresh logits for the last one: keep the prefix it
    already holds, drop the rest, evaluate what is missing (Llama.generate's prefix reuse).
    At least one token is evaluated, so the logits are those after the last token."""
    import numpy as np

    tokens = np.asarray(tokens, dtype=np.intc)
    reset = True
    if llm.n_tokens > 0:
        n = min(llm.n_tokens, len(tokens))
        differ = np.nonzero(llm.input_ids[:n] != tokens[:n])[0]
        prefix = int(differ[0]) if differ.size else n
        reuse = prefix - 1 if prefix == len(tokens) else prefix
        if reuse > 0 and llm._ctx.kv_cache_seq_rm(-1, reuse, -1):
            reset = False
            tokens = tokens[reuse:]
            llm.n_tokens = reuse
    if reset:
        llm.reset()
    llm.eval(tokens.tolist())



class DecodeLoop:
    """Iterate to generate: yields the text each token adds ("" while bytes are held back: an
    incomplete UTF-8 character, or what may be the start of a stop string). Closing the iterator
    (Stop) leaves the model's state consistent. After the loop: finish_reason ("stop" or
    "length"), prompt_tokens, generated_tokens."""

    def __init__(
        self,
        llm: Any,
        prompt: Prompt,
        sampling: Any,
        grammar: Any = None,
        drafter: DraftSource | None = None,
    ) -> None:
        n_ctx = llm.n_ctx()
        self.drafter = drafter  # where draft tokens come from, if anywhere (speculation.py)
        n_prompt = len(prompt.tokens)
        if n_prompt >= n_ctx:  # the library's words, which the host turns into a plain sentence
            raise ValueError(f"Requested tokens ({n_prompt}) exceed context window of {n_ctx}")
        max_tokens = sampling.max_tokens
        if max_tokens is None or max_tokens <= 0:
            max_tokens = n_ctx - n_prompt
        self.max_tokens = max_tokens if max_tokens + n_prompt < n_ctx else n_ctx - n_prompt
        self.llm = llm
        self.prompt = prompt
        self.sampling = sampling
        self.grammar = grammar
        self.finish_reason = "length"
        self.prompt_tokens = n_prompt
        self.generated_tokens = 0

    def _seed(self) -> int:
        """The library's seed rule: the given one, or the next of a chain started at the
        model's seed (so seedless answers differ from one another, as before)."""
        llm = self.llm
        if self.sampling.seed is not None:
            llm.set_seed(self.sampling.seed)
        else:
            llm.set_seed(random.Random(llm._seed).randint(0, 2**32))
        return int(llm._seed)

    def __iter__(self) -> Iterator[str]:
        import llama_cpp.llama_cpp as raw

        llm = self.llm
        chain = SamplerChain(llm, self.sampling, self.grammar, self._seed())
        try:
            catch_up(llm, self.prompt.tokens)
            yield from self._loop(raw, chain)
        finally:
            chain.free()

    def _loop(self, raw: Any, sampler: SamplerChain) -> Iterator[str]:  # noqa: C901 - the hot loop
        import numpy as np

        llm = self.llm
        n_vocab = llm._n_vocab
        n_ctx = llm.n_ctx()
        logits_of, as_array, address = raw.llama_get_logits_ith, np.ctypeslib.as_array, ctypes.addressof
        chain, argmax = sampler.chain, sampler.argmax
        topk = TopKCut(raw, chain, n_vocab, sampler.top_k) if TopKCut.usable(n_vocab, sampler.top_k) else None
        penalties = Penalties(raw, sampler.penalties, sampler.last_n) if sampler.penalties else None
        views: dict[int, Any] = {}  # numpy views of llama.cpp's logits rows, by address

        def logits_row(i: int) -> Any:
            pointer = logits_of(ctx, i)
            if not pointer:
                raise RuntimeError(f"llama.cpp has no logits for output {i}")
            view = views.get(address(pointer.contents))
            if view is None:
                view = views[address(pointer.contents)] = as_array(pointer, shape=(n_vocab,))
            return view

        ctx = llm._ctx.ctx
        vocab = llm._model.vocab
        batch = llm._batch.batch
        b_token, b_pos, b_seq, b_nseq, b_logits = (
            batch.token, batch.pos, batch.seq_id, batch.n_seq_id, batch.logits)
        input_ids = llm.input_ids
        sample, is_eog, decode, to_piece = (
            raw.llama_sampler_sample, raw.llama_vocab_is_eog, raw.llama_decode, raw.llama_token_to_piece)
        size = 64
        buffer = ctypes.create_string_buffer(size)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
        stops = [s.encode("utf-8") for s in self.prompt.stops if s]
        stop_ids = self.prompt.stop_token_ids
        strip_space = self.prompt.strip_leading_space
        max_tokens = self.max_tokens
        drafter = self.drafter
        max_batch = max(1, min(int(getattr(llm, "n_batch", 512)), 64))

        def pick(row: int) -> int:
            """The request's next token from logits row `row` (its samplers, its random
            numbers, in the order the one-token loop would draw them), accepted by the chain."""
            if argmax:
                logits = logits_row(row)
                if penalties is None:
                    return int(logits.argmax())
                penalties.apply(logits)
                token = int(logits.argmax())
            elif topk is not None:
                logits = logits_row(row)
                if penalties is not None:
                    penalties.apply(logits)
                picked = topk.sample(logits)
                token = sample(chain, ctx, row) if picked is None else picked
            else:
                if penalties is not None:
                    penalties.apply(logits_row(row))
                token = sample(chain, ctx, row)
            if penalties is not None:
                penalties.accept(token)
            return token

        pending = b""  # bytes not yet given out: maybe the start of a stop string
        generated = 0
        # Speculation: the tokens sampled while a draft was checked, to be given out in order;
        # the first `in_cache` of them are the accepted draft, already in the KV cache, the
        # last one is not (it is evaluated next, as any sampled token).
        ahead: list[int] = []
        in_cache = 0
        # The KV cache as the one-token loop would leave it: the prompt and every given-out
        # token that it went on to evaluate. Accepted drafts beyond that are trimmed at the end.
        keep = llm.n_tokens
        last = int(input_ids[llm.n_tokens - 1])
        # One token a step: only its id and position change in the batch from here on.
        b_seq[0][0], b_nseq[0], b_logits[0] = 0, 1, True
        try:
            while True:
                if stop_ids and last in stop_ids:
                    self.finish_reason = "stop"
                    break
                if ahead:
                    token = ahead.pop(0)
                    evaluated = in_cache > 0
                    in_cache -= evaluated
                else:
                    token = pick(-1)
                    evaluated = False
                if is_eog(vocab, token):
                    self.finish_reason = "stop"
                    break
                generated += 1
                self.generated_tokens = generated
                n = to_piece(vocab, token, buffer, size, 0, False)
                if n < 0:  # a piece longer than the buffer: grow it once for this model
                    size = -n
                    buffer = ctypes.create_string_buffer(size)
                    n = to_piece(vocab, token, buffer, size, 0, False)
                piece = buffer.raw[:n]
                if strip_space:
                    strip_space = False
                    if piece.startswith(b" "):
                        piece = piece[1:]
                pending += piece
                if stops:
                    cut = min((i for i in (pending.find(s) for s in stops) if i >= 0), default=-1)
                    if cut >= 0:
                        self.finish_reason = "stop"
                        yield decoder.decode(pending[:cut], final=True)
                        return
                    hold = 0
                    for s in stops:
                        for i in range(min(len(s) - 1, len(pending)), hold, -1):
                            if pending.endswith(s[:i]):
                                hold = i
                                break
                    if hold:
                        out, pending = pending[:-hold], pending[-hold:]
                    else:
                        out, pending = pending, b""
                    text = decoder.decode(out) if out else ""
                else:
                    text = decoder.decode(pending)
                    pending = b""
                if generated >= max_tokens:
                    self.finish_reason = "length"
                    yield text + decoder.decode(pending, final=True)
                    return
                yield text
                last = token
                keep += 1
                if evaluated:
                    continue
                # Evaluate the token (the library does this when it resumes its generator),
                # with a draft behind it when the conversation offers one.
                pos = llm.n_tokens
                input_ids[pos] = token
                draft: list[int] = []
                if drafter is not None:
                    room = min(max_tokens - generated - 1, n_ctx - pos - 2, max_batch - 1)
                    draft = drafter.draft(input_ids[: pos + 1], room)
                b_token[0] = token
                b_pos[0] = pos
                batch.n_tokens = 1 + len(draft)
                for i, t in enumerate(draft, 1):
                    b_token[i] = t
                    b_pos[i] = pos + i
                    b_seq[i][0] = 0
                    b_nseq[i] = 1
                    b_logits[i] = True
                code = decode(ctx, batch)
                if code != 0:
                    raise RuntimeError(f"llama_decode returned {code}")
                if not draft:
                    llm.n_tokens = pos + 1
                    continue
                # Sample at each position as the one-token loop would have there; the draft
                # stands while the samples agree with it, and the first sample that does not
                # (or the one after a wholly accepted draft) is the next token. The same random
                # draws in the same order: the text is the one-token loop's for any sampler, up
                # to the rounding of a batch (prompt_lookup.py's docstring).
                assert drafter is not None
                accepted = 0
                for i, t in enumerate(draft):
                    sampled = pick(i)
                    ahead.append(sampled)
                    if sampled != t:
                        break
                    accepted += 1
                else:
                    ahead.append(pick(len(draft)))
                in_cache = accepted
                drafter.batches += 1
                drafter.proposed += len(draft)
                drafter.accepted += accepted
                input_ids[pos + 1 : pos + 1 + accepted] = draft[:accepted]
                llm.n_tokens = pos + 1 + accepted
                if accepted < len(draft):  # the cache forgets the rejected part of the draft
                    llm._ctx.kv_cache_seq_rm(-1, llm.n_tokens, -1)
            yield decoder.decode(pending, final=True)
        finally:
            if llm.n_tokens > keep:
                llm._ctx.kv_cache_seq_rm(-1, keep, -1)
                llm.n_tokens = keep
