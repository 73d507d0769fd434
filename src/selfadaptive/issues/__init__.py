"""Which training labels are wrong: rank samples from a run's soft targets (``ranking``), keep the
per-epoch history that ranking reads (``tracker``), score a ranking against known true labels
(``metrics``), and the ``sat issues`` command over a run folder (``evaluate``)."""
from .metrics import detection_metrics, flagged_set_metrics
from .ranking import (
                      COLUMNS,
                      DEFAULT_SCORE,
                      SCORES,
                      LabelIssues,
                      debiased_targets,
                      given_mass,
                      issue_scores,
                      label_issues,
                      label_margin,
                      prior_weight,
)
from .tracker import LabelIssueTracker

__all__ = ["label_issues", "LabelIssues", "LabelIssueTracker", "detection_metrics", "flagged_set_metrics",
           "issue_scores", "debiased_targets", "given_mass", "label_margin", "prior_weight", "COLUMNS",
           "DEFAULT_SCORE", "SCORES"]
