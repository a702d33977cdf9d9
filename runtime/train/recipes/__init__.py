"""Training recipes: how each kind of project trains (see recipes/base.py for the interface)."""

from __future__ import annotations

from runtime.train.recipes.autoencoder import Autoencoder
from runtime.train.recipes.base import Evaluation, Recipe, RecipeSetup, SampleOutput
from runtime.train.recipes.gan import Gan
from runtime.train.recipes.language_model import LanguageModel
from runtime.train.recipes.segmentation import Segmentation
from runtime.train.recipes.seq2seq import Seq2Seq
from runtime.train.recipes.supervised import Supervised

RECIPES: dict[str, type[Recipe]] = {
    "classification": Supervised,
    "regression": Supervised,
    "language_model": LanguageModel,
    "autoencoder": Autoencoder,
    "gan": Gan,
    "seq2seq": Seq2Seq,
    "segmentation": Segmentation,
}


def make_recipe(setup: RecipeSetup) -> Recipe:
    recipe = RECIPES[setup.config.recipe](setup)
    if setup.config.adversarial != "off" and getattr(recipe, "adversary", None) is None:
        setup.warnings.append(f"adversarial training applies to classification and regression; the "
                              f"{setup.config.recipe} recipe trains without it")
    return recipe


__all__ = ["RECIPES", "Evaluation", "Recipe", "RecipeSetup", "SampleOutput", "make_recipe"]
