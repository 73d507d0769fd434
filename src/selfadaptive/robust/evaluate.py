"""``sat robust RUN``: clean, FGSM, PGD and (optionally) AutoAttack accuracy of a run's last and best model.

Reads only the run folder: config.yaml, checkpoint.pt (the last model) and best_model.pt (task=robust:
the model chosen by validation robust accuracy).  With the run's own attack settings on the whole test
split it adds to RUN/robust.json (e.g. an AutoAttack column); any other eps, steps, step size, split
or ``limit`` goes to its own ``RUN/robust-<split>-eps<eps>-pgd<steps>-step<size>-n<N>.json``, so no
result is overwritten by the answer to a different question.
"""
from __future__ import annotations

import json

from ..engine.devices import bf16_autocast, uses_bf16
from ..engine.restore import load_run_model
from ..errors import UserError, first_line
from .training import accuracy_under_attacks, attack_suite, load_model_copy, step_size_for


def autoattack_fn(eps: float, num_classes: int, seed: int = 0):
    """torchattacks' standard AutoAttack (APGD-CE, APGD-T, FAB-T, Square) as ``fn(model, x, y)``.

    Needs the optional extra: ``pip install "selfadaptive[attacks]"``.
    """
    try:
        import torchattacks
    except ImportError:
        raise UserError("--autoattack needs torchattacks: pip install 'selfadaptive[attacks]' "
                        "(keep your torch pinned in the same command, see the README)") from None
    attackers = {}      # one AutoAttack per model, built on first use

    def attack(model, x, y):
        if model not in attackers:
            attackers[model] = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard",
                                                       n_classes=num_classes, seed=seed)
        return attackers[model](x, y).detach()
    return attack


def evaluate_robust(path, which: str = "both", eps: float | None = None, steps: int | None = None,
                    step_size: float | None = None, autoattack: bool = False, limit: int = 0,
                    device: str | None = None, split: str = "test") -> dict:
    """Robust accuracy of run ``path``'s models; returns (and writes) the report.

    which: "last", "best" or "both"; eps/steps/step_size default to the run's ``adversarial``
    settings (test_steps, test_step_size); limit: attack only the first N samples of the split.
    """
    run, cfg, data, model, state, dev = load_run_model(path, device)
    adv = cfg.adversarial
    eps = adv.eps if eps is None else eps
    steps = adv.test_steps if steps is None else steps
    size = step_size_for(eps, steps, adv.test_step_size if step_size is None else step_size)
    if not 0.0 <= eps <= 1.0:
        raise UserError(f"--eps must be in [0, 1] (inputs are in [0, 1]), got {eps}")
    if steps < 1 or size <= 0 or limit < 0:
        raise UserError(f"--steps must be >= 1, --step-size > 0 and --limit >= 0; got {steps}, {size}, {limit}")
    dataset = {"test": data.test, "val": data.val}[split]
    if dataset is None or len(dataset) == 0:
        raise UserError(f"{run.path} has no {split} split")
    models = {}
    if which in ("last", "both"):
        models["last"] = (model, int(state["epoch"]) - 1)
    if which in ("best", "both"):
        if run.best_model.is_file():
            best, best_state = load_model_copy(model, run.best_model, dev)
            models["best"] = (best, int(best_state["epoch"]))
        elif which == "best":
            raise UserError(f"{run.path} has no best_model.pt (only task=robust runs keep one)")

    def attacks():      # one fresh, identically seeded suite per model: every model faces the same random starts
        suite = attack_suite(eps, steps, size, with_fgsm=True, device=dev)
        if autoattack:
            suite["autoattack"] = autoattack_fn(eps, data.num_classes, seed=cfg.seed)
        return suite
    amp = uses_bf16(cfg.precision, dev)
    autocast = lambda: bf16_autocast(dev, amp)      # noqa: E731  (as the trainer's Session.autocast)
    report = {"eps": eps, "attack": f"pgd{steps}", "step_size": size, "split": split,
              "size": len(dataset) if not limit else min(limit, len(dataset))}
    for name, (m, epoch) in models.items():
        try:
            report[name] = {"epoch": epoch, **accuracy_under_attacks(m, dataset, dev, attacks(), cfg.data.batch_size,
                                                                     limit, autocast)}
        except RuntimeError as e:
            raise UserError(f"attacking {run.path} ({name}) failed: {first_line(e)}") from None
    default = step_size_for(adv.eps, adv.test_steps, adv.test_step_size)
    if (eps, steps, size, split, limit) == (adv.eps, adv.test_steps, default, "test", 0):
        out = run.robust
    else:       # another question gets its own file
        out = run.path / f"robust-{split}-eps{eps:g}-pgd{steps}-step{size:.4g}-n{report['size']}.json"
    if out.is_file():       # same question: keep the results of other attacks or models already there
        try:
            old = json.loads(out.read_text())
        except (OSError, json.JSONDecodeError):
            old = {}
        for key in ("last", "best"):
            if isinstance(old.get(key), dict) and key in report:
                report[key] = {**old[key], **report[key]}
            elif isinstance(old.get(key), dict):
                report[key] = old[key]
    run.write_json(out, report)
    report["file"] = str(out)
    return report
