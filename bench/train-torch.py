"""PyTorch side of bench/train.ts: the same architectures, single thread, timed on request.

Reads one JSON command per line on stdin: {"model": "cnn", "batch": 10, "steps": 40}, trains that
many SGD steps on random data of the model's shape and answers {"seconds": ..., "steps": ...}.
Install: sudo apt-get install python3-torch (Debian) or pip install torch.
"""
import json
import sys
import time

import torch
from torch import nn

torch.set_num_threads(1)
torch.manual_seed(0)


def build(name):
    if name == "logreg":
        return nn.Linear(784, 10)
    if name == "2nn":
        return nn.Sequential(nn.Linear(784, 200), nn.ReLU(), nn.Linear(200, 200), nn.ReLU(), nn.Linear(200, 10))
    if name == "cnn":
        return nn.Sequential(
            nn.Unflatten(1, (1, 28, 28)),
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 512), nn.ReLU(), nn.Linear(512, 10))
    if name == "lstm":
        class NextToken(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = nn.Embedding(80, 8)
                self.lstm = nn.LSTM(8, 128, batch_first=True)
                self.out = nn.Linear(128, 80)

            def forward(self, x):
                h, _ = self.lstm(self.embedding(x))
                return self.out(h[:, -1])
        return NextToken()
    raise ValueError(name)


def data(name, n):
    if name == "lstm":
        return torch.randint(0, 80, (n, 80)), torch.randint(0, 80, (n,))
    return torch.rand(n, 784), torch.randint(0, 10, (n,))


models = {}
print(json.dumps({"ready": True, "torch": torch.__version__, "threads": torch.get_num_threads()}), flush=True)
for line in sys.stdin:
    cmd = json.loads(line)
    name, batch, steps = cmd["model"], cmd["batch"], cmd["steps"]
    if name not in models:
        models[name] = build(name)
    model = models[name]
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss_fn = nn.CrossEntropyLoss()
    x, y = data(name, batch * (steps + 1))
    def step(i):
        opt.zero_grad()
        loss = loss_fn(model(x[i * batch:(i + 1) * batch]), y[i * batch:(i + 1) * batch])
        loss.backward()
        opt.step()
    step(steps)  # warm-up
    t = time.perf_counter()
    for i in range(steps):
        step(i)
    print(json.dumps({"seconds": time.perf_counter() - t, "steps": steps}), flush=True)
