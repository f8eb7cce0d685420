"""Equal-budget hyper-parameter tuning (``rmdbench tune``, docs/tuning.md): every method
gets the same number of configurations, drawn from the search space it declares, trained
as ordinary runs through the sweep machinery, and one configuration per (dataset, noise
model, ratio) and method is selected on validation labels (noisy by default).

Nothing here prints. One job per module:

- ``configurations``: the budget rule, the configurations of each method;
- ``plan``: the tuning grid as ordinary runs (``plan_sweep``);
- ``scores``: the validation DSCs the runs recorded;
- ``selection``: the rules (noisy-val, clean-val) and the choice per method;
- ``report``: ``tuning.csv`` and one sweep file per setting;
- ``selected``: the store's ``.tuning/selected.json``, and ``selected_configurations``
  that reads it (for reports).
"""

from rmdbench.tuning.configurations import (
    Configuration,
    SearchBudgetError,
    check_search,
    method_configurations,
)
from rmdbench.tuning.plan import PlannedRun, Setting, TuningPlan, plan_tuning
from rmdbench.tuning.report import write_csv, write_sweep_files
from rmdbench.tuning.scores import UnscoredRunsError, check_scored, collect_scores
from rmdbench.tuning.selected import (
    SelectedFileError,
    record_selected,
    selected_configurations,
    selected_entries,
    selected_path,
)
from rmdbench.tuning.selection import (
    DEFAULT_RULE,
    RULES,
    SelectionRuleError,
    check_rule,
    select,
    summarise,
)

__all__ = [
    "DEFAULT_RULE",
    "RULES",
    "Configuration",
    "PlannedRun",
    "SearchBudgetError",
    "SelectedFileError",
    "SelectionRuleError",
    "Setting",
    "TuningPlan",
    "UnscoredRunsError",
    "check_rule",
    "check_scored",
    "check_search",
    "collect_scores",
    "method_configurations",
    "plan_tuning",
    "record_selected",
    "select",
    "selected_configurations",
    "selected_entries",
    "selected_path",
    "summarise",
    "write_csv",
    "write_sweep_files",
]
