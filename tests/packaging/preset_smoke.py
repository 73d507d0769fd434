"""Run by test_installed_presets.py with a fresh venv's python, outside the repository: every shipped
preset (or shard K of N of them), one step, on the tiny data home named by $SAT_DATA_ROOT.  Prints
one JSON line with each run's saved config; the run folders' checkpoints are deleted as soon as a
run ends (the WRN presets write 300-400 MB each)."""
import json
import sys
from pathlib import Path

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
        over += ["data.subset=24", "data.test_subset=4", "data.val_fraction=0.5", "adversarial.steps=1",
                 "adversarial.eval_steps=1",
                 "adversarial.test_steps=1"]
    if cfg.task == "ssl":
        over += ["ssl.knn_k=4", "ssl.monitor_size=8", "ssl.linear_probe=false"]
    elif cfg.loss.name in ("sat", "sat_selective", "gambler"):
        over += ["loss.start_epoch=0"]         # SAT's bank is exercised from the first step
    return over


def main(out_root: str, shard: int = 0, shards: int = 1) -> None:
    ran, failures, configs = [], {}, {}
    for name, path in list(preset_paths().items())[shard::shards]:
        try:
            cfg = load_config(path, overrides(load_config(path)))
            run = Path(out_root) / name
            (pretrain if cfg.task == "ssl" else train)(cfg, run, quiet=True)
            ran.append(name)
            configs[name] = (run / "config.yaml").read_text()
            for checkpoint in run.glob("*.pt"):
                checkpoint.unlink()
        except (Exception, SystemExit) as e:
            failures[name] = f"{type(e).__name__}: {e}"[:300]
    print(json.dumps({"module": selfadaptive.__file__, "ran": ran, "failures": failures, "configs": configs}))


if __name__ == "__main__":
    main(sys.argv[1], *(int(a) for a in sys.argv[2:4]))
