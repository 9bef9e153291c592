"""The PyTorch twins of the shared models (taught in 01_baseline_models), and their training loop.

Same layer sizes as labkit.keras_models, so parameter counts match and results compare. The models
return logits; `nn.CrossEntropyLoss` applies log-softmax itself.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from labkit.data import Splits


class MLP(nn.Module):
    """The seed's MLP 784-128-64-10 (109,386 parameters), returning logits."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.reshape(x.shape[0], -1))


class SmallCNN(nn.Module):
    """Two 3x3 conv + max-pool blocks and a linear layer, as in the Keras CNN (NCHW input)."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Linear(32 * 5 * 5, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.features(x), 1))


def build(arch: str, seed: int = 0) -> nn.Module:
    """`mlp` or `cnn`, initialised from `seed`."""
    classes = {"mlp": MLP, "cnn": SmallCNN}
    if arch not in classes:
        raise ValueError(f"unknown architecture {arch!r}; allowed: 'mlp' or 'cnn'.")
    torch.manual_seed(seed)
    return classes[arch]()


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def to_tensor(x: np.ndarray, arch: str) -> torch.Tensor:
    """Flat (n, 784) for the MLP, NCHW (n, 1, 28, 28) for the CNN."""
    tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return tensor.reshape(-1, 784) if arch == "mlp" else tensor.reshape(-1, 1, 28, 28)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: np.ndarray, device: str = "cpu") -> float:
    """Top-1 accuracy, evaluated in eval mode in batches of 512."""
    model.eval()
    predictions = [model(chunk.to(device)).argmax(1).cpu() for chunk in x.split(512)]
    return float((torch.cat(predictions).numpy() == y).mean())


def fit(
    model: nn.Module,
    data: Splits,
    arch: str,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
) -> dict[str, list[float]]:
    """Adam + cross-entropy, shuffled mini-batches from a seeded generator, validation each epoch."""
    torch.manual_seed(seed)
    order = torch.Generator().manual_seed(seed)
    model.to(device)
    x_train, y_train = to_tensor(data.x_train, arch), torch.from_numpy(data.y_train)
    x_val = to_tensor(data.x_val, arch)
    optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
    loss_fn = nn.CrossEntropyLoss()
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_accuracy": []}
    for _ in range(epochs):
        model.train()
        total, correct, seen = 0.0, 0, 0
        for index in torch.randperm(len(y_train), generator=order).split(batch_size):
            xb, yb = x_train[index].to(device), y_train[index].to(device)
            optimizer.zero_grad()
            logits = model(xb)
            loss = loss_fn(logits, yb)
            loss.backward()
            optimizer.step()
            total += loss.item() * len(yb)
            correct += int((logits.argmax(1) == yb).sum())
            seen += len(yb)
        history["loss"].append(total / seen)
        history["accuracy"].append(correct / seen)
        history["val_accuracy"].append(accuracy(model, x_val, data.y_val, device))
    return history
