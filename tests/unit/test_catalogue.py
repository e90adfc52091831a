from datetime import date

from service.adapters import ADAPTERS
from service.catalogue import default_catalogue

TODAY = date(2026, 11, 25)


def test_every_model_family_has_an_adapter():
    assert {m.family for m in default_catalogue().models} <= set(ADAPTERS)


def test_names_are_unique_across_models():
    names = [n for m in default_catalogue().models for n in m.names]
    assert len(names) == len(set(names))


def test_retired_models_name_their_end_of_life_and_an_active_replacement():
    catalogue = default_catalogue()
    for model in catalogue.models:
        if model.is_retired(TODAY):
            assert model.end_of_life is not None
            replacement = catalogue.find(model.replacement)
            assert replacement is not None and not replacement.is_retired(TODAY)


def test_recipe_model_and_amazon_models_are_retired_on_their_dates():
    catalogue = default_catalogue()
    assert catalogue.find("stability.stable-diffusion-xl-v1").end_of_life == date(2025, 5, 20)
    assert catalogue.find("amazon.titan-image-generator-v2:0").end_of_life == date(2026, 6, 30)
    assert catalogue.find("amazon.nova-canvas-v1:0").end_of_life == date(2026, 9, 30)
    assert not catalogue.find("stable-image-core").is_retired(TODAY)


def test_a_model_past_its_end_of_life_date_counts_as_retired_even_if_marked_active():
    core = default_catalogue().find("stable-image-core")
    assert core.is_retired(date(2099, 1, 1)) is False  # no end-of-life date: stays active
