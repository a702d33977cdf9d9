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
    """(ids up to and with the EOS, summed log-probability) of the best answer for ONE source row (1, S)."""
    source = source.reshape(1, -1)
    alive = [([], 0.0)]  # (ids so far, log-probability)
    finished: list[tuple[list[int], float]] = []
    for t in range(steps):
        decoder = torch.full((len(alive), steps), pad, dtype=torch.long, device=source.device)
        decoder[:, 0] = bos
        for row, (ids, _score) in enumerate(alive):
            if ids:
                decoder[row, 1:t + 1] = torch.tensor(ids, dtype=torch.long)
        scores = _scores(model, source.expand(len(alive), -1), decoder)[:, t]
        logp = torch.log_softmax(scores, dim=-1)
        total = torch.tensor([score for _ids, score in alive], device=logp.device)[:, None] + logp
        values, flat = total.reshape(-1).topk(min(2 * beam, total.numel()))
        vocab = logp.shape[-1]
        extended = []
        for value, index in zip(values.tolist(), flat.tolist()):
            ids = alive[index // vocab][0] + [index % vocab]
            if index % vocab == eos:
                finished.append((ids, value))
            elif len(extended) < beam:
                extended.append((ids, value))
        finished.sort(key=lambda pair: -pair[1])
        finished = finished[:beam]
        alive = extended
        if not alive or (len(finished) >= beam and finished[-1][1] >= alive[0][1]):
            break
    best = max(finished + alive, key=lambda pair: pair[1]) if finished or alive else ([], 0.0)
    return best


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
