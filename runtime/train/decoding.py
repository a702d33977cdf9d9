"""Decoding a sequence-to-sequence network, and the metrics of what it wrote.

The network is any module called as `model(source_ids, decoder_ids)` giving
scores (B, T, vocab): the trained model, which is the exported source
executed, or that file imported by hand. Step t's scores say which token
comes after decoder_ids[:, :t + 1]; the decoder's input starts with BOS and
the answer ends with EOS. Steps after t are filled with PAD while decoding,
which a causal decoder never looks at (the recipe refuses one that would).

- `greedy_decode`: the best token at every step, a whole batch at once.
- `beam_decode`: the `beam` best partial answers by summed log-probability,
  kept step by step; a finished answer (EOS) waits until no partial one can
  beat it (log-probabilities only fall). Beam 1 is greedy.
- `levenshtein`, `character_error_rate` (edits / reference characters, over
  all pairs), `exact_match` (share of answers equal to the reference).
"""

from __future__ import annotations

import torch


def _scores(model, source: torch.Tensor, decoder: torch.Tensor) -> torch.Tensor:
    out = model(source, decoder)
    if isinstance(out, (tuple, list)):
        out = out[0]
    return out.float()


@torch.no_grad()
def greedy_decode(model, source: torch.Tensor, steps: int, bos: int, eos: int, pad: int) -> torch.Tensor:
    """(B, steps) token ids written for each source row; PAD after the EOS."""
    batch = len(source)
    decoder = torch.full((batch, steps), pad, dtype=torch.long, device=source.device)
    decoder[:, 0] = bos
    out = torch.full((batch, steps), pad, dtype=torch.long, device=source.device)
    done = torch.zeros(batch, dtype=torch.bool, device=source.device)
    for t in range(steps):
        token = _scores(model, source, decoder)[:, t].argmax(dim=-1)
        token = torch.where(done, torch.full_like(token, pad), token)
        out[:, t] = token
        done |= token == eos
        if done.all():
            break
        if t + 1 < steps:
            decoder[:, t + 1] = token
    return out


@torch.no_grad()
def beam_decode(model, source: torch.Tensor, steps: int, bos: int, eos: int, pad: int,
                beam: int) -> tuple[list[int], float]:
    """(ids up to and with the EOS, summed log-probability) of the best answer for one source row."""
    return beam_decode_batch(model, source.reshape(1, -1), steps, bos, eos, pad, beam)[0]


@torch.no_grad()
def beam_decode_batch(model, source: torch.Tensor, steps: int, bos: int, eos: int, pad: int,
                      beam: int) -> list[tuple[list[int], float]]:
    """The best answer of each source row (N, S), its beams decoded side by side: (ids, log-probability).

    An answer that never wrote EOS within `steps` competes as it stands.
    """
    rows = len(source)
    alive: list[list[tuple[list[int], float]]] = [[([], 0.0)] for _ in range(rows)]
    finished: list[list[tuple[list[int], float]]] = [[] for _ in range(rows)]
    done = [False] * rows
    for t in range(steps):
        active = [r for r in range(rows) if not done[r]]
        if not active:
            break
        owners = [(r, ids, score) for r in active for ids, score in alive[r]]
        decoder = torch.full((len(owners), steps), pad, dtype=torch.long, device=source.device)
        decoder[:, 0] = bos
        if t:
            decoder[:, 1:t + 1] = torch.tensor([ids for _r, ids, _s in owners], dtype=torch.long,
                                               device=source.device)
        picked = source[torch.tensor([r for r, _ids, _s in owners], device=source.device)]
        logp = torch.log_softmax(_scores(model, picked, decoder)[:, t], dim=-1)
        totals = torch.tensor([s for _r, _ids, s in owners], device=logp.device)[:, None] + logp
        vocab, first = logp.shape[-1], 0
        for r in active:
            count = len(alive[r])
            flat = totals[first:first + count].reshape(-1)
            values, indices = flat.topk(min(2 * beam, flat.numel()))
            extended = []
            for value, index in zip(values.tolist(), indices.tolist()):
                ids = owners[first + index // vocab][1] + [index % vocab]
                if index % vocab == eos:
                    finished[r].append((ids, value))
                elif len(extended) < beam:
                    extended.append((ids, value))
            first += count
            finished[r] = sorted(finished[r], key=lambda pair: -pair[1])[:beam]
            alive[r] = extended
            done[r] = not extended or (len(finished[r]) >= beam and finished[r][-1][1] >= extended[0][1])
    return [max(finished[r] + alive[r], key=lambda pair: pair[1]) for r in range(rows)]


def levenshtein(a, b) -> int:
    """Insertions, deletions and substitutions that turn sequence a into b."""
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return previous[-1]


def character_error_rate(predicted: list[str], reference: list[str]) -> float:
    """Edits over every pair / characters of every reference (0 is perfect; can exceed 1)."""
    edits = sum(levenshtein(p, r) for p, r in zip(predicted, reference))
    characters = sum(len(r) for r in reference)
    return edits / characters if characters else float(edits > 0)


def exact_match(predicted: list[str], reference: list[str]) -> float:
    if not reference:
        return 0.0
    return sum(p == r for p, r in zip(predicted, reference)) / len(reference)
