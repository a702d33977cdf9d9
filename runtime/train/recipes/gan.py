"""GAN: a generator and a discriminator from the same project, trained in turns.

Networks: "generator" (latent noise in, a sample out) and "discriminator"
(a sample in, one real-or-fake score out). If they are named otherwise, the
network with a Latent noise input is the generator. Each step:
  1. discriminator: BCE(D(real), 1) + BCE(D(G(z)), 0), its own optimizer;
  2. generator: the non-saturating loss BCE(D(G(z)), 1), its own optimizer.
The discriminator may have its own learning rate (`d_lr`). A fixed batch of
noise, drawn once from the project's seed, is rendered to a sample grid
after every epoch, so the grids show one set of faces/digits improving.
"""

from __future__ import annotations

import torch
from torch import nn

from graph.compiler import CompiledNetwork
from graph.shapes import format_shape
from runtime.train.device import DeviceSplit
from runtime.train.errors import SetupError
from runtime.train.images import grid_png
from runtime.train.recipes.autoencoder import image_shape_for
from runtime.train.recipes.base import (
    INPUT_KINDS,
    Evaluation,
    OptimizerGroup,
    Recipe,
    RecipeSetup,
    SampleOutput,
    check_input,
    single_head,
)

GRID_SAMPLES = 64


def find_gan_networks(networks: dict[str, CompiledNetwork]) -> tuple[str, str]:
    """(generator, discriminator) network names."""
    if "generator" in networks and "discriminator" in networks:
        return "generator", "discriminator"
    noisy = [n for n, info in networks.items() if "NoiseInput" in info.input_types]
    others = [n for n in networks if n not in noisy]
    if len(networks) == 2 and len(noisy) == 1:
        return noisy[0], others[0]
    raise SetupError(f"a GAN needs two networks, 'generator' (starting from a Latent noise input) and "
                     f"'discriminator'; this project has {', '.join(repr(n) for n in networks) or 'none'}")


class Gan(Recipe):
    name = "gan"
    step_names = ("g_loss", "d_loss", "d_real", "d_fake")
    monitor = "last"  # no validation metric: the newest weights count as the best
    has_validation = False

    def __init__(self, setup: RecipeSetup):
        super().__init__(setup)
        self.g_name, self.d_name = find_gan_networks(setup.compiled.networks)
        g_info, d_info = setup.compiled.networks[self.g_name], setup.compiled.networks[self.d_name]
        self.generator, self.discriminator = setup.models[self.g_name], setup.models[self.d_name]
        if g_info.input_types != ["NoiseInput"]:
            raise SetupError(f"the generator '{self.g_name}' must have exactly one input, a Latent noise "
                             f"block; it has {', '.join(g_info.input_types) or 'none'}")
        _head, fake_shape = single_head(g_info, "a GAN generator")
        d_head, score_shape = single_head(d_info, "a GAN discriminator")
        dataset = setup.dataset
        check_input(d_info, dataset)
        if tuple(fake_shape) != tuple(dataset.input_shape):
            raise SetupError(
                f"the generator '{self.g_name}' makes samples of shape {format_shape(fake_shape)}, but the "
                f"real data '{dataset.name}' (and the discriminator's "
                f"{INPUT_KINDS.get(d_info.input_types[0], 'input')} input) has "
                f"{format_shape(dataset.input_shape)}; make the generator's last layers output "
                f"{format_shape(dataset.input_shape)}")
        if tuple(score_shape) != (1,):
            raise SetupError(f"the discriminator '{self.d_name}' must end in one score per sample (1,), "
                             f"e.g. a Binary head after Linear(1); it outputs {format_shape(score_shape)}")
        self.loss_fn = (self.discriminator.make_loss() if d_head == "BinaryHead" else None) \
            or nn.BCEWithLogitsLoss()
        self.latent = g_info.input_shapes[0][0]
        self.image_shape = image_shape_for(tuple(dataset.input_shape), dataset.extra)
        # drawn from its own generator so the fixed grid is the same however training went
        noise_rng = torch.Generator().manual_seed(setup.project.seed + 12345)
        self.fixed_noise = torch.randn(GRID_SAMPLES, self.latent, generator=noise_rng).to(self.device)
        self.place_data()
        real = self.train_data.inputs
        self.value_range = (float(real.min()), float(real.max()))  # [-1, 1] for the bundled sources

    def optimizer_groups(self) -> dict[str, OptimizerGroup]:
        d_lr = self.config.d_lr or self.config.lr
        return {
            self.g_name: OptimizerGroup(self.g_name, list(self.generator.parameters()), self.config.lr),
            self.d_name: OptimizerGroup(self.d_name, list(self.discriminator.parameters()), d_lr),
        }

    def train_step(self, x: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor:
        loss_fn = self.loss_fn
        z = torch.randn(len(x), self.latent, device=self.device)
        with self.autocast():
            fake = self.generator(z)
            real_scores = self.discriminator(x)
            fake_scores = self.discriminator(fake.detach())
            real = torch.ones_like(real_scores)
            d_loss = loss_fn(real_scores, real) + loss_fn(fake_scores, torch.zeros_like(fake_scores))
        self.updaters[self.d_name](d_loss)
        with self.autocast():
            g_loss = loss_fn(self.discriminator(fake), real)  # non-saturating: make D call fakes real
        self.updaters[self.g_name](g_loss)
        with torch.no_grad():
            return torch.stack([g_loss.detach().float(), d_loss.detach().float(),
                                torch.sigmoid(real_scores.detach().float()).mean(),
                                torch.sigmoid(fake_scores.detach().float()).mean()])

    def evaluate(self, split: DeviceSplit) -> Evaluation:
        return Evaluation({})

    @torch.no_grad()
    def sample_images(self) -> torch.Tensor:
        self.generator.eval()
        with self.autocast():
            fake = self.generator(self.fixed_noise).float()
        return fake  # the trainer switches back to training mode before the next epoch

    def samples(self, epoch: int) -> list[SampleOutput]:
        if self.image_shape is None:
            return []
        fake = self.sample_images().reshape(-1, *self.image_shape).cpu().numpy()
        png = grid_png(fake, columns=8, value_range=self.value_range)
        return [SampleOutput(f"Generated from fixed noise, epoch {epoch}", f"epoch_{epoch:03d}.png", png=png)]
