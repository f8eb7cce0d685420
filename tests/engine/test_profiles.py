"""Profiles: named sizes, and fields changed from the command line as ``quick[epochs=3]``."""

import pytest

from rmdbench.errors import UserError
from rmdbench.profiles import PROFILES, get_profile


def test_named_profile_is_returned_unchanged():
    assert get_profile("quick") is PROFILES["quick"]


def test_override_changes_only_the_given_fields_and_names_the_result():
    changed = get_profile("quick[epochs=3, crop_size=48]")
    assert (changed.epochs, changed.crop_size) == (3, 48)
    assert changed.base_width == PROFILES["quick"].base_width
    assert changed.name == "quick[crop_size=48,epochs=3]"  # field order, whatever was typed
    assert get_profile("quick[crop_size=48,epochs=3]") == changed
    assert get_profile("quick[learning_rate=1e-4]").name == "quick[learning_rate=0.0001]"
    assert changed.as_dict() != PROFILES["quick"].as_dict()  # so its runs hash differently


def test_override_equal_to_the_profile_is_the_profile():
    assert get_profile("quick[epochs=6]") is PROFILES["quick"]


def test_optional_field_accepts_none_and_numbers():
    assert get_profile("tiny[max_train_cases=none]").max_train_cases is None
    assert get_profile("quick[max_train_cases=100]").max_train_cases == 100


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("nope", "unknown profile 'nope'"),
        ("quick[epochs=0]", "epochs must be at least 1"),
        ("quick[epochs=three]", "expects an integer"),
        ("quick[speed=9]", "has no parameter speed"),
        ("quick[name=x]", "cannot be overridden"),
        ("quick[learning_rate=-1]", "learning_rate must be positive"),
        ("quick[precision=fp61]", "precision must be fp32 or bf16"),
        ("quick[max_train_cases=0]", "max_train_cases must be at least 1"),
    ],
)
def test_bad_profile_is_one_clear_error(text, message):
    with pytest.raises(UserError, match=message):
        get_profile(text)
