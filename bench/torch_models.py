"""The talk's MNIST models in PyTorch, the peer the PyTensor scripts are timed against.

Same model as the numbered scripts (init randn * 0.01, the same dropout and
RMSprop settings, float32), the same command line and the same --log records, so
bench/speed.py can compare epoch for epoch; it passes the learning rate and batch
size that our script's own --log recorded.

    python bench/torch_models.py --model cnn --lr 0.001 --epochs 1
"""
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from toolkit import training  # noqa: E402
from tools import runs  # noqa: E402
from toolkit.files import write_jsonl  # noqa: E402


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(len(x), -1)


def build(name):
    drop = nn.Dropout
    if name == "logistic":
        layers = [nn.Linear(784, 10, bias=False)]
    elif name == "net":
        layers = [nn.Linear(784, 625, bias=False), nn.Sigmoid(), nn.Linear(625, 10, bias=False)]
    elif name == "modern":
        layers = [drop(0.2), nn.Linear(784, 625, bias=False), nn.ReLU(), drop(0.5),
                  nn.Linear(625, 625, bias=False), nn.ReLU(), drop(0.5),
                  nn.Linear(625, 10, bias=False)]
    else:
        pool = lambda: nn.MaxPool2d(2, ceil_mode=True)  # Theano's ignore_border=False  # noqa: E731
        layers = [nn.Conv2d(1, 32, 3, padding=2, bias=False), nn.ReLU(), pool(), drop(0.2),
                  nn.Conv2d(32, 64, 3, bias=False), nn.ReLU(), pool(), drop(0.2),
                  nn.Conv2d(64, 128, 3, bias=False), nn.ReLU(), pool(), Flatten(), drop(0.2),
                  nn.Linear(128 * 3 * 3, 625, bias=False), nn.ReLU(), drop(0.5),
                  nn.Linear(625, 10, bias=False)]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape) * 0.01)
    return model


class TalkRMSprop(torch.optim.Optimizer):
    """RMSprop exactly as the talk wrote it: p -= lr * g / sqrt(acc + epsilon).

    (torch.optim.RMSprop adds epsilon outside the square root, which moves
    faster in the first steps, when the running average is still tiny.)
    """

    def __init__(self, params, lr=0.001, rho=0.9, epsilon=1e-6):
        super().__init__(params, {"lr": lr, "rho": rho, "epsilon": epsilon})

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                acc = self.state[p].setdefault("acc", torch.zeros_like(p))
                acc.mul_(group["rho"]).addcmul_(p.grad, p.grad, value=1 - group["rho"])
                p.addcdiv_(p.grad, (acc + group["epsilon"]).sqrt_(), value=-group["lr"])


def main():
    parser = training.OneLineParser(description=__doc__)
    parser.add_argument("--model", choices=list(runs.MODELS), required=True)
    parser.add_argument("--epochs", type=training.positive_int, default=1)
    parser.add_argument("--batch-size", type=training.positive_int, default=128)
    parser.add_argument("--lr", type=training.positive_float, required=True)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--ntrain", type=training.positive_int, default=60000)
    parser.add_argument("--ntest", type=training.positive_int, default=10000)
    parser.add_argument("--data-dir")
    parser.add_argument("--log", metavar="PATH")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the model (its first epoch includes compiling)")
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    lr = args.lr

    from load import mnist
    trX, teX, trY, teY = mnist(args.ntrain, args.ntest, onehot=False, data_dir=args.data_dir)
    shape = (-1, 1, 28, 28) if args.model == "cnn" else (-1, 784)
    trX, teX = torch.from_numpy(trX.reshape(shape)), torch.from_numpy(teX.reshape(shape))
    trY, teY = torch.from_numpy(trY), torch.from_numpy(teY)

    model = build(args.model)
    if args.compile:
        model = torch.compile(model)
    if args.model in ("modern", "cnn"):
        optimizer = TalkRMSprop(model.parameters(), lr=lr)
    else:
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    loss_fn = nn.CrossEntropyLoss()
    records = []
    for epoch in range(1, args.epochs + 1):
        model.train()
        start = time.perf_counter()
        total = 0.0
        for begin, end in training.minibatches(len(trX), args.batch_size):
            optimizer.zero_grad()
            loss = loss_fn(model(trX[begin:end]), trY[begin:end])
            loss.backward()
            optimizer.step()
            total += loss.item() * (end - begin)
        train_seconds = time.perf_counter() - start
        model.eval()
        start = time.perf_counter()
        with torch.no_grad():
            predictions = torch.cat([model(teX[b:e]).argmax(1)
                                     for b, e in training.minibatches(len(teX), 1000)])
        accuracy = (predictions == teY).float().mean().item()
        eval_seconds = time.perf_counter() - start
        records.append({"epoch": epoch, "test_accuracy": accuracy,
                        "train_cost": total / len(trX), "train_seconds": train_seconds,
                        "eval_seconds": eval_seconds,
                        "mode": f"torch {torch.__version__}"
                                + (" compile" if args.compile else " eager")})
        print(f"epoch {epoch:3d}  test accuracy {accuracy:.4f}  train cost "
              f"{total / len(trX):.4f}  {train_seconds:.2f} s", flush=True)
        if args.log:
            write_jsonl(args.log, records)


if __name__ == "__main__":
    main()
