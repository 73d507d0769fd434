"""The public surface survives reorganisations: the top-level names, every CLI command and every
config key of the release before the package got its folders are still there."""

import selfadaptive
from selfadaptive.cli import build_parser
from selfadaptive.config import Config, to_dict

PUBLIC = ["Config", "CrossEntropyLoss", "EarlyLearningRegularizationLoss", "GeneralizedCrossEntropyLoss",
          "IndexedLoss", "Interrupted", "LabelIssueTracker", "LabelIssues", "LabelNoise", "SATClassifier",
          "SelfAdaptiveLoss", "SoftBootstrapLoss", "SymmetricCrossEntropyLoss", "TrainingDiverged", "UserError",
          "build_loss", "corrupt_labels", "detection_metrics", "label_issues", "load_config", "train"]
COMMANDS = ["eval", "issues", "presets", "pretrain", "probe", "report", "robust", "selective", "sweep", "train"]
CONFIG_KEYS = [
    "adversarial.beta", "adversarial.eps", "adversarial.eval_size", "adversarial.eval_step_size",
    "adversarial.eval_steps", "adversarial.method", "adversarial.step_size", "adversarial.steps",
    "adversarial.test_step_size", "adversarial.test_steps", "channels_last", "compile", "data.augment",
    "data.batch_size", "data.clean_labels", "data.crop_padding", "data.download", "data.eval_batch_size",
    "data.image_size", "data.label_column", "data.labels", "data.mean", "data.name", "data.num_classes", "data.root",
    "data.split_seed", "data.std", "data.stream", "data.subset", "data.test_fraction", "data.test_path",
    "data.test_subset", "data.unlabeled", "data.val_fraction", "data.val_size", "data.workers", "device",
    "log.checkpoint_every", "log.progress", "log.tensorboard", "loss.alpha", "loss.bank_device", "loss.bank_dtype",
    "loss.beta", "loss.coverage", "loss.lam", "loss.momentum", "loss.name", "loss.q", "loss.reference_width",
    "loss.reward", "loss.start_epoch", "loss.variant", "model.base_width", "model.depth", "model.dropout",
    "model.name", "noise.file", "noise.kind", "noise.label_file", "noise.label_set", "noise.rate", "noise.seed",
    "optim.epochs", "optim.eta", "optim.gamma", "optim.lr", "optim.milestones", "optim.momentum", "optim.name",
    "optim.nesterov", "optim.schedule", "optim.warmup_epochs", "optim.weight_decay", "precision", "seed", "ssl.blur",
    "ssl.crop_min_scale", "ssl.dim", "ssl.head_norm", "ssl.hidden", "ssl.knn_every", "ssl.knn_k",
    "ssl.knn_temperature", "ssl.linear_probe", "ssl.monitor_size", "ssl.target_momentum", "ssl.view_size", "task"]


def _keys(tree, prefix=""):
    for key, value in tree.items():
        if isinstance(value, dict):
            yield from _keys(value, prefix + key + ".")
        else:
            yield prefix + key


def test_top_level_names():
    missing = [name for name in PUBLIC if not hasattr(selfadaptive, name)]
    assert missing == [] and set(PUBLIC) <= set(selfadaptive.__all__)
    assert callable(selfadaptive.train) and callable(selfadaptive.label_issues)    # functions, not modules
    assert issubclass(selfadaptive.SelfAdaptiveLoss, selfadaptive.IndexedLoss)


def test_every_cli_command():
    sub = next(a for a in build_parser()._actions if isinstance(a.choices, dict))
    assert set(COMMANDS) <= set(sub.choices)


def test_every_config_key():
    assert set(CONFIG_KEYS) <= set(_keys(to_dict(Config())))     # keys may be added, never lost
