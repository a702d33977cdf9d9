"""Next-token language model: cross-entropy at every position, perplexity, sampled text.

The network reads token ids (B, T) and scores the next token at every
position (B, T, vocab). After each epoch it writes text: starting from a
real window of the validation text (the prompt), it repeatedly feeds the
last T tokens, samples the next one from the softened scores
(`temperature`) and slides the window. Sampling uses its own random
generator, so it never changes the training run's random numbers (a resumed
run stays identical to an uninterrupted one).
"""

from __future__ import annotations

import torch

from runtime.train.device import DeviceSplit
from runtime.train.errors import SetupError
from runtime.train.metrics import ClassificationMeter, perplexity
from runtime.train.recipes.base import (
    Evaluation,
    RecipeSetup,
    SampleOutput,
    SingleNetworkRecipe,
    check_input,
    check_targets,
    pick_network,
    single_head,
)


class LanguageModel(SingleNetworkRecipe):
    name = "language_model"
    monitor = "loss"

    def __init__(self, setup: RecipeSetup):
        super().__init__(setup)
        self.network, self.model, info = pick_network(setup, "language model")
        head, out_shape = single_head(info, "the language model recipe")
        dataset = setup.dataset
        if head != "ClassificationHead":
            raise SetupError(f"a language model scores every possible next token, so network "
                             f"'{info.network}' must end in a Classification head, not a {head}")
        check_input(info, dataset)
        check_targets(dataset, "tokens", "language model", "choose a text data source")
        self.classes = out_shape[-1]
        self.per_step = len(out_shape) == 2
        vocab = dataset.vocab or []
        vocab_size = len(vocab) or dataset.num_classes or 0
        if vocab_size > self.classes:
            raise SetupError(f"the text has {vocab_size} different tokens, but the Classification head of "
                             f"'{info.network}' scores only {self.classes}; set its classes (and the "
                             f"layer before it) to {vocab_size}")
        block = setup.project.network(self.network).blocks[info.input_blocks[0]]
        input_vocab = block.params.get("vocab_size", 128)
        if vocab_size > input_vocab:
            raise SetupError(f"the text has {vocab_size} different tokens, but the input block "
                             f"'{block.name}' allows ids below {input_vocab}; set its vocab_size to "
                             f"{vocab_size}")
        self.vocab = vocab
        self.loss_fn = self.model.make_loss()
        self.place_data()

    def _loss_of(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if self.per_step:
            return self.loss_fn(out.reshape(-1, out.shape[-1]), y.reshape(-1))
        return self.loss_fn(out, y[:, -1])  # one score per window: predict the token after it

    def step_loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self._loss_of(self.model(x), y)

    @torch.no_grad()
    def evaluate(self, split: DeviceSplit) -> Evaluation:
        self.model.eval()
        meter = ClassificationMeter(self.classes, self.device, self.config.top_k, confusion=False)
        for x, y in split.batches(self.eval_batch_size()):
            with self.autocast():
                out = self.model(x)
                loss = self._loss_of(out, y)
            meter.add(out.float(), y if self.per_step else y[:, -1], loss)
        metrics = meter.result()
        metrics["perplexity"] = perplexity(metrics["loss"])
        return Evaluation(metrics)

    def decode(self, ids: list[int]) -> str:
        if not self.vocab:
            return " ".join(str(i) for i in ids)
        return "".join(self.vocab[i] if 0 <= i < len(self.vocab) else "?" for i in ids)

    @torch.no_grad()
    def generate(self, prompt: torch.Tensor, length: int, seed: int) -> list[int]:
        """`length` sampled token ids following `prompt` (1-D ids, as long as the input block)."""
        self.model.eval()
        generator = torch.Generator().manual_seed(seed)
        window = prompt.to(self.device).reshape(1, -1)
        produced: list[int] = []
        for _ in range(length):
            with self.autocast():
                scores = self.model(window)
            last = scores[0, -1] if self.per_step else scores[0]
            probs = torch.softmax(last.float() / self.config.temperature, dim=-1).cpu()
            token = torch.multinomial(probs, 1, generator=generator)
            produced.append(int(token))
            window = torch.cat([window[:, 1:], token.to(self.device).reshape(1, 1)], dim=1)
        return produced

    def samples(self, epoch: int) -> list[SampleOutput]:
        source = self.val_data or self.train_data
        prompt = source.inputs[0].cpu()
        produced = self.generate(prompt, self.config.sample_length, self.setup.project.seed * 1000 + epoch)
        prompt_text, text = self.decode(prompt.tolist()), self.decode(produced)
        return [SampleOutput(f"Sampled text, epoch {epoch}", f"epoch_{epoch:03d}.txt",
                             text=f"{prompt_text}{text}")]
