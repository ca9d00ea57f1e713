"""Seed 003, narrated: the ParamStore.

Run with ``python tutorial/seed003_param_store.py``. It walks through Pyro's
``ParamStoreDict`` API as ppl offers it: ``ppl.param`` with constraints, the dict-like
store, constrained vs. unconstrained values, ``save``/``load`` (with ``map_location``),
``scope`` for two models with the same parameter names, ``ppl.module``, and what
ppl does with an untrusted file.
"""

import pathlib
import shutil
import tempfile

import torch
from torch.distributions import constraints

import ppl
from ppl.params.safe_file import UnsafeFileError
from ppl.primitives import module

ppl.set_rng_seed(0)
ppl.clear_param_store()
store = ppl.get_param_store()
workdir = pathlib.Path(tempfile.mkdtemp(prefix="ppl_seed003_"))

# --- 1. Parameters have unique names; the init value is used only the first time.
loc = ppl.param("loc", torch.tensor([0.0, 1.0]))
scale = ppl.param("scale", torch.tensor(2.0), constraint=constraints.positive)
again = ppl.param("scale", torch.tensor(99.0), constraint=constraints.positive)
print("scale:", scale.item(), "(second init ignored:", again.item(), ")")

# An expensive init can be a lambda, evaluated only if the name is new.
weights = ppl.param("w", lambda: torch.full((3,), 1 / 3), constraint=constraints.simplex)
print("simplex weights:", weights.tolist())

# --- 2. Constrained values are what the model sees; the store keeps unconstrained leaves.
for name, value in store.items():
    print(f"  {name:6s} constrained   {value.detach().tolist()}")
for name, leaf in store.named_parameters():
    print(f"  {name:6s} unconstrained {leaf.detach().tolist()}  (leaf: {leaf.is_leaf})")
print("match('s.*'):", list(store.match("s.*")))
scale_leaf = dict(store.named_parameters())["scale"]
print("param_name(leaf of scale):", store.param_name(scale_leaf))

# The constrained value is differentiable w.r.t. the leaf an optimizer updates.
ppl.param("scale").backward()
print("d scale / d log-scale =", scale_leaf.grad.item())

# An init outside the support is an error that names the parameter and constraint.
try:
    ppl.param("bad", torch.tensor(-1.0), constraint=constraints.positive)
except ValueError as err:
    print("ValueError:", err)

# --- 3. Save and load. The file holds only tensors and plain data; saving is atomic.
path = workdir / "params.pt"
store.save(path)
ppl.clear_param_store()
target = "cuda" if torch.cuda.is_available() else "meta"  # "meta": a device with no data
store.load(path, map_location=target)
print(f"loaded onto {target}:", {n: p.device.type for n, p in store.named_parameters()})
ppl.clear_param_store()
store.load(path)  # back on the CPU
print("scale after load:", ppl.param("scale").item())

# --- 4. scope: two models with the same parameter names, trained and evaluated apart.


def train(target_value):
    ppl.param("loc", torch.tensor(0.0))
    optim = torch.optim.Adam([p for _, p in store.named_parameters()], lr=0.1)
    for _ in range(300):
        optim.zero_grad()
        ((ppl.param("loc") - target_value) ** 2).backward()
        optim.step()


with store.scope() as scope1:
    train(3.0)
with store.scope() as scope2:
    train(-2.0)
with store.scope(scope1):
    print("model 1 loc:", round(ppl.param("loc").item(), 3))
with store.scope(scope2):
    print("model 2 loc:", round(ppl.param("loc").item(), 3))
print("outer store untouched:", sorted(store.keys()))

# --- 5. nn.Modules: parameters get the module's name as a prefix.
net = module("net", torch.nn.Linear(2, 1))
print("module params:", [n for n in store.keys() if n.startswith("net")])
store.save(path)
ppl.clear_param_store()
store.load(path)
fresh = module("net", torch.nn.Linear(2, 1), update_module_params=True)
print("loaded weights reached the new module:", torch.equal(fresh.weight, net.weight))

# --- 6. A file that would run code when unpickled is refused, and runs nothing.


class Evil:
    def __reduce__(self):
        return (open, (str(workdir / "created_by_unpickling.txt"), "w"))


torch.save({"params": {"x": Evil()}, "constraints": {}}, workdir / "evil.pt")
try:
    store.load(workdir / "evil.pt")
except UnsafeFileError as err:
    print("UnsafeFileError:", str(err)[:100], "...")
print("file created by unpickling?", (workdir / "created_by_unpickling.txt").exists())
shutil.rmtree(workdir)
