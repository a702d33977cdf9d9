"""Sequence to sequence: a source text in, a target text out (dates to ISO form, translation).

The network has two Token ids inputs, in forward() order: the source ids
(B, S) and the decoder's input (B, T), and one per-step Classification head
scoring the next target token at every step (B, T, vocab). Training uses
teacher forcing: the decoder reads BOS followed by the true target without
its last id, and cross-entropy is taken at every step that is not padding.

Validation reports the loss and the token accuracy of teacher forcing, then
decodes greedily, step by step as a user's text would be, the first
`MAX_DECODED` samples: exact match (the whole answer right) and character
error rate (edits / reference characters). Exact match picks the best
checkpoint. Beam decoding (runtime/train/decoding.py) is for evaluation.
"""

from __future__ import annotations

import torch
from torch.nn import functional

from runtime.data.parallel import BOS, EOS, PAD, UNK, decode_ids, encode_text
from runtime.train.decoding import beam_decode_batch, character_error_rate, exact_match, greedy_decode
from runtime.train.device import DeviceSplit
from runtime.train.errors import SetupError
from runtime.train.recipes.base import (
    Evaluation,
    RecipeSetup,
    SampleOutput,
    SingleNetworkRecipe,
    check_targets,
    pick_network,
    single_head,
)

MAX_DECODED = 500  # validation samples decoded each epoch: a bounded cost per epoch
SAMPLES_SHOWN = 8  # pairs written to the epoch's sample text
CAUSAL_TYPES = ("TransformerDecoderBlock", "TransformerEncoderBlock", "SelfAttention",
                "ScaledDotProductAttention")


class Seq2Seq(SingleNetworkRecipe):
    name = "seq2seq"
    monitor = "exact_match"
    higher_is_better = True

    def __init__(self, setup: RecipeSetup):
        from runtime.train.data import seq2seq_lengths  # (runtime.train.data imports the recipes)

        super().__init__(setup)
        self.network, self.model, info = pick_network(setup, "seq2seq")
        dataset = setup.dataset
        check_targets(dataset, "translation", "seq2seq", "choose a data source of text pairs "
                      "(parallel_text or dates)")
        source_shape, decoder_shape = seq2seq_lengths(info)
        head, out_shape = single_head(info, "the seq2seq recipe")
        head_name = setup.project.network(self.network).blocks[info.output_blocks[0]].name
        if head != "ClassificationHead" or len(out_shape) != 2:
            raise SetupError(f"the seq2seq recipe scores the next target token at every step, so network "
                             f"'{info.network}' must end in a per-step Classification head (B, T, vocab); "
                             f"'{head_name}' is a {head} giving {out_shape}")
        self.steps = decoder_shape[0]
        if out_shape[0] != self.steps:
            raise SetupError(f"the Classification head '{head_name}' scores {out_shape[0]} steps, but the "
                             f"decoder's Token ids input '{info.input_names[1]}' has {self.steps}; the head "
                             "must score one token per decoder step")
        self.vocab = list(dataset.vocab or [])
        self.classes = out_shape[-1]
        if len(self.vocab) > self.classes:
            raise SetupError(f"the text pairs have {len(self.vocab)} different tokens (4 special ones "
                             f"included), but the Classification head '{head_name}' scores only "
                             f"{self.classes}; set its classes (and the layer before it) to "
                             f"{len(self.vocab)}")
        net = setup.project.network(self.network)
        for block_id in info.input_blocks:
            block = net.blocks[block_id]
            allowed = block.params.get("vocab_size", 128)
            if len(self.vocab) > allowed:
                raise SetupError(f"the text pairs have {len(self.vocab)} different tokens, but the input "
                                 f"block '{block.name}' allows ids below {allowed}; set its vocab_size "
                                 f"(and its Embedding's) to {len(self.vocab)}")
        _check_causal(setup, self.network, info.input_blocks[1])
        self.source_length = source_shape[0]
        self.place_data()

    # --- training ---------------------------------------------------------------------------------
    def decoder_input(self, y: torch.Tensor) -> torch.Tensor:
        """Teacher forcing: BOS, then the target without its last id."""
        start = torch.full_like(y[:, :1], BOS)
        return torch.cat([start, y[:, :-1]], dim=1)

    def _loss_of(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        scores = out.reshape(-1, out.shape[-1]).float()
        return functional.cross_entropy(scores, y.reshape(-1), ignore_index=PAD)

    def step_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._loss_of(self.model(x, self.decoder_input(y)), y)

    # --- decoding ---------------------------------------------------------------------------------
    def greedy(self, x: torch.Tensor) -> torch.Tensor:
        with self.autocast():
            return greedy_decode(self.model, x, self.steps, BOS, EOS, PAD)

    def beam(self, x: torch.Tensor, size: int) -> list[list[int]]:
        """The best answer of each row of x by beam decoding (ids up to the EOS)."""
        self.model.eval()
        with self.autocast():
            return [ids for ids, _score in beam_decode_batch(self.model, x.to(self.device), self.steps,
                                                             BOS, EOS, PAD, size)]

    def text(self, ids) -> str:
        return decode_ids(ids, self.vocab)

    def encode_source(self, text: str) -> torch.Tensor:
        index = {ch: i for i, ch in enumerate(self.vocab) if i > UNK}
        return torch.as_tensor(encode_text(text, index, self.source_length)).reshape(1, -1).to(self.device)

    @torch.no_grad()
    def decode_split(self, split: DeviceSplit, limit: int = MAX_DECODED) -> tuple[list, list, list]:
        """(sources, references, greedy answers) of the first `limit` samples of a split."""
        self.model.eval()
        sources, references, answers = [], [], []
        count = min(limit, len(split))
        for start in range(0, count, self.eval_batch_size()):
            x = split.inputs[start:min(count, start + self.eval_batch_size())].to(self.device)
            y = split.targets[start:start + len(x)]
            produced = self.greedy(x).cpu().tolist()
            sources += [self.text(row) for row in x.cpu().tolist()]
            references += [self.text(row) for row in y.cpu().tolist()]
            answers += [self.text(row) for row in produced]
        return sources, references, answers

    # --- evaluation -------------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(self, split: DeviceSplit) -> Evaluation:
        self.model.eval()
        loss_sum, right, counted = 0.0, 0, 0
        for x, y in split.batches(self.eval_batch_size()):
            with self.autocast():
                out = self.model(x, self.decoder_input(y))
            mask = y != PAD
            tokens = int(mask.sum())
            loss_sum += float(self._loss_of(out, y)) * tokens
            right += int(((out.argmax(dim=-1) == y) & mask).sum())
            counted += tokens
        _sources, references, answers = self.decode_split(split)
        return Evaluation({"loss": loss_sum / max(counted, 1), "accuracy": right / max(counted, 1),
                           "exact_match": exact_match(answers, references),
                           "cer": character_error_rate(answers, references)})

    def samples(self, epoch: int) -> list[SampleOutput]:
        split = self.val_data or self.train_data
        sources, references, answers = self.decode_split(split, SAMPLES_SHOWN)
        lines = [f"{s}\t->\t{a}\t({'right' if a == r else 'expected ' + r})"
                 for s, r, a in zip(sources, references, answers)]
        return [SampleOutput(f"Decoded pairs, epoch {epoch}", f"epoch_{epoch:03d}.txt",
                             text="\n".join(lines))]


def _check_causal(setup: RecipeSetup, network: str, decoder_input: str) -> None:
    """Every block on the decoder input's path must be causal: with teacher forcing a step that sees later
    steps sees the answer, and learns nothing it could use when decoding."""
    from graph.blocks import default_registry

    net = setup.project.network(network)
    registry = default_registry()
    reached, todo = {decoder_input}, [decoder_input]
    while todo:
        current = todo.pop()
        for edge in net.edges:
            if edge.src != current:
                continue
            block = net.blocks[edge.dst]
            spec = registry.get(block.type) if block.type in registry else None
            params = {**(spec.defaults() if spec else {}), **block.params}
            sees_ahead = (block.type in CAUSAL_TYPES and edge.dst_port in ("x", "q")
                          and not params.get("causal"))
            if sees_ahead or params.get("bidirectional"):
                what = "reads both directions" if params.get("bidirectional") else "has causal off"
                raise SetupError(f"block '{block.name}' ({block.type}) on the decoder's path {what}, so in "
                                 "training each step would see the target's later characters (the answer); "
                                 + ("turn bidirectional off" if params.get("bidirectional") else
                                    "turn its causal option on"))
            if edge.dst not in reached:
                reached.add(edge.dst)
                todo.append(edge.dst)
