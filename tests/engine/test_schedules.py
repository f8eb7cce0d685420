import math

import pytest

from rmdbench.training.schedules import Schedule


def test_paper_milestones_as_fractions():
    schedule = Schedule()
    # the sigmoid ramp of the released code at epochs 0, 5, 10 of 50
    assert schedule.sigmoid_ramp(0.0) == pytest.approx(math.exp(-5), rel=1e-9)
    assert schedule.sigmoid_ramp(5 / 50) == pytest.approx(0.2865, abs=1e-3)
    assert schedule.sigmoid_ramp(10 / 50) == 1.0
    assert schedule.linear_ramp(0.1) == pytest.approx(0.5)
    assert schedule.learning_rate_factor(0.1) == 1.0
    # epoch 30 of 50: (50 - 30) / 40 = 0.5
    assert schedule.learning_rate_factor(30 / 50) == pytest.approx(0.5)
    assert schedule.adam_beta1(0.19) == 0.9 and schedule.adam_beta1(0.2) == 0.1
    assert not schedule.strong_augmentation(0.19) and schedule.strong_augmentation(0.2)
