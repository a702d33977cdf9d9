"""Training recipes: how each kind of project trains (see recipes/base.py for the interface)."""

from __future__ import annotations

from runtime.train.recipes.autoencoder import Autoencoder
from runtime.train.recipes.base import Evaluation, Recipe, RecipeSetup, SampleOutput
from runtime.train.recipes.gan import Gan
from runtime.train.recipes.language_model import LanguageModel
from runtime.train.recipes.segmentation import Segmentation
from runtime.train.recipes.supervised import Supervised

RECIPES: dict[str, type[Recipe]] = {
    "classification": Supervised,
    "regression": Supervised,
    "language_model": LanguageModel,
    "autoencoder": Autoencoder,
    "gan": Gan,
    "segmentation": Segmentation,
}


def make_recipe(setup: RecipeSetup) -> Recipe:
    return RECIPES[setup.config.recipe](setup)


__all__ = ["RECIPES", "Evaluation", "Recipe", "RecipeSetup", "SampleOutput", "make_recipe"]
