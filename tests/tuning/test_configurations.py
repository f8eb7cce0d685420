"""The budget rule and the tuning grid: configuration 0 is the defaults, every method gets
the same N, draws repeat, fixed options are not drawn, clean runs are shared."""

from __future__ import annotations

import pytest

from rmdbench.errors import UserError
from rmdbench.labels import method_defaults
from rmdbench.plugins import load_builtins
from rmdbench.profiles import get_profile
from rmdbench.registry import METHODS
from rmdbench.sweep import SweepConfig, resolve_method
from rmdbench.tuning import SearchBudgetError, method_configurations, plan_tuning

ALL = ["single", "coteaching", "jocor", "trinet", "rmd"]


@pytest.fixture(scope="module", autouse=True)
def _builtins():
    load_builtins()


@pytest.mark.parametrize("method", ALL)
def test_configuration_zero_is_the_defaults(method):
    zero = method_configurations(method, 5, 0)[0]
    assert zero.index == 0 and zero.options == {} and zero.drawn == {}
    assert resolve_method(zero.component) == (method, method_defaults(method))


def test_every_method_with_a_space_gets_the_same_number_drawn_from_it():
    counts = {method: len(method_configurations(method, 6, 3)) for method in ALL}
    assert counts == {"single": 1, "coteaching": 6, "jocor": 6, "trinet": 6, "rmd": 6}
    for method in ALL[1:]:
        space = METHODS.get(method).search_space
        for configuration in method_configurations(method, 6, 3)[1:]:
            assert set(configuration.drawn) == set(space)
            for key, value in configuration.drawn.items():
                assert space[key].low <= value <= space[key].high
            resolve_method(configuration.component)  # the Params accept it


def test_draws_repeat_and_depend_on_method_n_and_first_seed():
    def values(method, search, seed):
        return [c.drawn for c in method_configurations(method, search, seed)]

    assert values("rmd", 4, 0) == values("rmd", 4, 0)
    assert values("rmd", 4, 0) != values("rmd", 4, 1)
    assert values("rmd", 4, 0)[1:] != values("rmd", 5, 0)[1:4]
    assert values("coteaching", 4, 0) != values("trinet", 4, 0)


def test_a_fixed_option_is_kept_and_not_drawn_and_the_others_draw_the_same():
    free = method_configurations("rmd", 3, 0)
    fixed = method_configurations("rmd[forget_rate=0.01,variant=released]", 3, 0)
    assert fixed[0].entry == "rmd[forget_rate=0.01,variant=released]"
    assert fixed[0].options == {"forget_rate": "0.01", "variant": "released"}
    for drawn, kept in zip(free[1:], fixed[1:], strict=True):
        assert kept.options["forget_rate"] == "0.01" and "forget_rate" not in kept.drawn
        assert kept.drawn == {k: v for k, v in drawn.drawn.items() if k != "forget_rate"}
    assert len(method_configurations("coteaching[forget_rate=0.01]", 4, 0)) == 1


@pytest.mark.parametrize("search", [0, -2, True])
def test_search_below_one_is_refused(search):
    with pytest.raises(SearchBudgetError, match="--search must be .* at least 1"):
        method_configurations("coteaching", search, 0)


def test_the_grid_shares_clean_runs_between_noise_models():
    config = SweepConfig.load(
        None,
        {
            "dataset": "toy-disks",
            "noise_model": ["distortion", "erosion_dilation"],
            "noise": ["0,0.4"],
            "methods": ["single,coteaching"],
            "seeds": [0, 1],
            "profile": "tiny",
        },
    )
    plan = plan_tuning(config, get_profile("tiny"), 3)
    assert len(plan.configurations) == 4 and plan.untuned() == ["single"]
    assert len(plan.runs) == 4 * 4 * 2  # settings x configurations x seeds
    assert len(plan.specs) == 4 * 2 * 2 + 4 * 2  # r=0.4 per noise model, r=0 once
    trained = {spec.run_name for spec in plan.specs}
    assert all(run.run_name in trained for run in plan.runs)
    clean = {}
    for run in plan.runs:
        if run.setting.ratio == 0:
            key = (run.configuration.entry, run.configuration.index, run.seed)
            clean.setdefault(key, set()).add(run.run_name)
    assert all(len(names) == 1 for names in clean.values())  # both noise models: one run


def test_an_unknown_method_is_refused_before_anything():
    config = SweepConfig.load(None, {"dataset": "toy-disks", "methods": ["nosuch"]})
    with pytest.raises(UserError, match="unknown method 'nosuch'"):
        plan_tuning(config, get_profile("tiny"), 2)
