"""Accuracy studies: SAT against baselines, per regime, with CE's last and best epochs."""
