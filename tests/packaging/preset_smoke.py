"""Run by test_installed_presets.py with a fresh venv's python, outside the repository: every shipped
preset, one step, on the tiny data home named by $SAT_DATA_ROOT.  Prints one JSON line."""
import json
import sys

import selfadaptive
from selfadaptive import load_config, train
from selfadaptive.config.presets import preset_paths
from selfadaptive.ssl.pretrain import pretrain

TINY = ["data.download=false", "data.subset=8", "data.test_subset=8", "data.batch_size=8", "optim.epochs=1",
        "log.progress=false", "device=cpu"]


def overrides(cfg) -> list[str]:
    over = list(TINY)
    if cfg.task == "robust":        # one-step attacks keep a WRN-34-10 step within seconds; the validation
        # split must leave at least one training sample per class (10)
        over += ["data.subset=24", "data.val_fraction=0.5", "adversarial.steps=1", "adversarial.eval_steps=1",
                 "adversarial.test_steps=1"]
    if cfg.task == "ssl":
        over += ["ssl.knn_k=4", "ssl.monitor_size=8", "ssl.linear_probe=false"]
    elif cfg.loss.name in ("sat", "sat_selective", "gambler"):
        over += ["loss.start_epoch=0"]         # SAT's bank is exercised from the first step
    return over


def main(out_root: str) -> None:
    ran, failures = [], {}
    for name, path in preset_paths().items():
        try:
            cfg = load_config(path, overrides(load_config(path)))
            (pretrain if cfg.task == "ssl" else train)(cfg, f"{out_root}/{name}", quiet=True)
            ran.append(name)
        except (Exception, SystemExit) as e:
            failures[name] = f"{type(e).__name__}: {e}"[:300]
    print(json.dumps({"module": selfadaptive.__file__, "ran": ran, "failures": failures}))


if __name__ == "__main__":
    main(sys.argv[1])
