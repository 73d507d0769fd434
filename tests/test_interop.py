"""Bringing your own loop and your cleanlab habits: IndexedDataset, cleanlab-style tables, sat --version."""
import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits
from test_cli import sat
from torch.utils.data import DataLoader, TensorDataset

from selfadaptive import IndexedDataset, SATClassifier, SelfAdaptiveLoss, label_issues
from selfadaptive.noise.labels import corrupt_labels


def test_indexed_dataset_yields_the_index_through_a_dataloader():
    x, y = torch.randn(10, 3), torch.arange(10) % 2
    batches = list(DataLoader(IndexedDataset(TensorDataset(x, y)), batch_size=4, shuffle=True,
                              generator=torch.Generator().manual_seed(0)))
    index = torch.cat([b[2] for b in batches])
    assert sorted(index.tolist()) == list(range(10))
    for bx, by, bi in batches:          # each row came with its own index
        assert torch.equal(bx, x[bi]) and torch.equal(by, y[bi])
    hf = IndexedDataset([{"pixel": 1, "label": 0}, {"pixel": 2, "label": 1}])
    assert hf[1] == {"pixel": 2, "label": 1, "index": 1}
    with pytest.raises(TypeError, match="tuples or dicts"):
        IndexedDataset([torch.zeros(3)])[0]


def test_a_plain_loop_with_indexed_dataset_trains_sat():
    x, y = load_digits(return_X_y=True)
    noisy = corrupt_labels(y, 10, 0.3, "flip", seed=0)
    data = IndexedDataset(TensorDataset(torch.tensor(x / 16, dtype=torch.float32), torch.from_numpy(noisy.noisy_labels)))
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(64, 128), torch.nn.ReLU(), torch.nn.Linear(128, 10))
    criterion = SelfAdaptiveLoss(noisy.noisy_labels, 10, momentum=0.9, start_epoch=3)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    loader = DataLoader(data, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
    for epoch in range(10):
        for xb, yb, index in loader:
            loss = criterion(model(xb), yb, index, epoch)
            opt.zero_grad()
            loss.backward()
            opt.step()
    found = label_issues(criterion.soft_targets, noisy.noisy_labels)
    top = found.index[:200]
    assert noisy.noisy_mask[top].mean() > 0.8          # 30% of labels are wrong: chance is 0.3


def test_cleanlab_style_table():
    pytest.importorskip("pandas")
    x, y = load_digits(return_X_y=True)
    names = np.array([f"digit-{c}" for c in y])
    noisy = corrupt_labels(y, 10, 0.3, "flip", seed=1)
    noisy_names = np.array([f"digit-{c}" for c in noisy.noisy_labels])
    clf = SATClassifier(max_epochs=30, random_state=0)
    table = clf.find_label_issues(x, noisy_names)
    assert list(table.columns) == ["is_label_issue", "label_quality", "given_label", "predicted_label"]
    assert len(table) == len(y) and (table["given_label"].to_numpy() == noisy_names).all()
    assert table["label_quality"].between(0, 1).all()
    # lower quality is worse: the lowest-quality fifth is mostly the wrong labels, the flagged ones too
    worst = table["label_quality"].to_numpy().argsort()[: len(y) // 5]
    assert noisy.noisy_mask[worst].mean() > 0.8
    flagged = table["is_label_issue"].to_numpy()
    assert noisy.noisy_mask[flagged].mean() > 0.8
    fixed = (table["predicted_label"].to_numpy() == names)[noisy.noisy_mask]
    assert fixed.mean() > 0.6


def test_version():
    res = sat("--version")
    assert res.returncode == 0 and res.stdout.startswith("selfadaptive ")
