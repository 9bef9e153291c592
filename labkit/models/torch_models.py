"""The PyTorch twins of the shared models (taught in 01_baseline_models), and their training loop.

Same layer sizes as labkit.models.keras_models, so parameter counts match and results compare. The models
return logits; `nn.CrossEntropyLoss` applies log-softmax itself.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
from torch import nn

from labkit.data import Splits


class MLP(nn.Module):
    """A ReLU MLP 784-...-10 returning logits; by default the source article's 784-128-64-10 (109,386 params).

    `hidden=(24,)` is the distillation student of notebooks 04 and 05.
    """

    def __init__(self, hidden: Sequence[int] = (128, 64)) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = 784
        for units in hidden:
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        self.net = nn.Sequential(*layers, nn.Linear(width, 10))

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


def state_dict_bytes(model: nn.Module) -> bytes:
    """The bytes `torch.save(model.state_dict())` writes: what the model costs on disk."""
    buffer = io.BytesIO()
    state = {k: v.detach().cpu() if isinstance(v, torch.Tensor) else v for k, v in model.state_dict().items()}
    torch.save(state, buffer)
    return buffer.getvalue()


def state_dict_problems(model: nn.Module, state: dict[str, torch.Tensor]) -> list[str]:
    """What keeps `state` from loading into `model`: missing and unexpected keys, shape mismatches."""
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    given = {k: tuple(v.shape) for k, v in state.items()}
    problems = [f"missing key {k!r}" for k in expected if k not in given]
    problems += [f"unexpected key {k!r}" for k in given if k not in expected]
    problems += [
        f"{k!r} is {list(given[k])} in the file but {list(shape)} in the model"
        for k, shape in expected.items()
        if k in given and given[k] != shape
    ]
    return problems


def load_weights(model: nn.Module, source: Path) -> nn.Module:
    """Load a saved state dict with `weights_only=True`; ValueError names the file and what does not fit."""
    try:
        state = torch.load(source, weights_only=True, map_location="cpu")
    except Exception as error:
        raise ValueError(
            f"{source.name} is not a state dict torch.load(weights_only=True) can read "
            f"({type(error).__name__}); it is corrupted or holds pickled objects: save it again with "
            "torch.save(model.state_dict(), path)."
        ) from None
    if not isinstance(state, dict):
        raise ValueError(
            f"{source.name} holds a {type(state).__name__}, not a state dict; save model.state_dict()."
        )
    problems = state_dict_problems(model, state)
    if problems:
        raise ValueError(
            f"{source.name} does not fit {type(model).__name__} (saved from another architecture?): "
            + "; ".join(problems)
            + "."
        )
    model.load_state_dict(state)
    return model


def to_tensor(x: np.ndarray, arch: str) -> torch.Tensor:
    """Flat (n, 784) for the MLP, NCHW (n, 1, 28, 28) for the CNN."""
    tensor = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    return tensor.reshape(-1, 784) if arch == "mlp" else tensor.reshape(-1, 1, 28, 28)


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: np.ndarray, *, device: str = "cpu") -> float:
    """Top-1 accuracy, evaluated in eval mode in batches of 512."""
    model.eval()
    predictions = [model(chunk.to(device)).argmax(1).cpu() for chunk in x.split(512)]
    return float((torch.cat(predictions).numpy() == y).mean())


@contextmanager
def intra_op_threads(threads: int | None) -> Iterator[None]:
    """Run the block with torch's intra-op threads set to `threads` (None leaves them), then restore them."""
    if threads is None:
        yield
        return
    if threads < 1:
        raise ValueError(f"threads must be >= 1 or None; got {threads}.")
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def train(
    model: nn.Module,
    data: Splits,
    *,
    arch: str,
    epochs: int,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    seed: int = 0,
    device: str = "cpu",
    before_step: Callable[[int], None] | None = None,
    threads: int | None = None,
) -> dict[str, list[float]]:
    """Adam + cross-entropy, shuffled mini-batches from a seeded generator, validation each epoch.

    `before_step(step)` runs before every optimizer step (0, 1, ...): notebook 05 updates pruning masks there.
    `threads` sets torch's intra-op threads while training (restored afterwards; None leaves them): small
    models train as fast on one, and extra OpenMP threads stall when the CPU is busy with other work.
    """
    with intra_op_threads(threads):
        torch.manual_seed(seed)
        order = torch.Generator().manual_seed(seed)
        model.to(device)
        x_train, y_train = to_tensor(data.x_train, arch), torch.from_numpy(data.y_train)
        x_val = to_tensor(data.x_val, arch)
        optimizer = torch.optim.Adam(model.parameters(), lr=learning_rate)
        loss_fn = nn.CrossEntropyLoss()
        history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_accuracy": []}
        step = 0
        for _ in range(epochs):
            model.train()
            total, correct, seen = 0.0, 0, 0
            for index in torch.randperm(len(y_train), generator=order).split(batch_size):
                if before_step is not None:
                    before_step(step)
                step += 1
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
            history["val_accuracy"].append(accuracy(model, x_val, data.y_val, device=device))
        return history


def script(model: nn.Module) -> torch.jit.ScriptModule:
    """`torch.jit.script(model)` without its deprecation warning (notebook 05 shows it once); a module
    that is already TorchScript is returned as it is."""
    if isinstance(model, torch.jit.ScriptModule):
        return model
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return torch.jit.script(model)
