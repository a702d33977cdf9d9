"""Source text of the standalone training script, piece by piece (used by runtime/export_script.py).

Each piece is plain Python with `{placeholders}` filled from the project's
settings; only the pieces a project needs go into its script (no schedule
code for a constant rate, no clipping line without clipping), so the
exported file reads like one written by hand for that project.
"""

from __future__ import annotations

SETUP = '''

def pick_device():
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def start_processes():
    """(rank, world size, device) of this process.

    Run plainly, this is the only process (rank 0 of 1). Started by torchrun
    (torchrun --nproc_per_node=N this_script.py), it joins the others: NCCL
    between GPUs (one per process), gloo between CPU processes.
    """
    if "WORLD_SIZE" not in os.environ:
        return 0, 1, pick_device()
    rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    if torch.cuda.is_available():
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
        dist.init_process_group("nccl")
    else:
        device = torch.device("cpu")
        dist.init_process_group("gloo")
    return rank, world, device


def parallel(model, world, device):
    """The model wrapped so that backward averages its gradients over all processes (as is for one)."""
    if world == 1:
        return model
    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def shuffler(size, rank, world):
    """Every process draws the same shuffled order each epoch and keeps every world-th sample from its rank.

    So a step's batches of all processes together are exactly the batch one
    process would take with a batch world times as large.
    """
    return DistributedSampler(range(size), num_replicas=world, rank=rank, seed=SEED, drop_last=True)


def load_split(data, name, device):
    """(inputs, targets) of one split of the .npz file as tensors on the device (None when absent)."""
    if f"{name}_inputs" not in data:
        return None, None
    inputs = torch.from_numpy(data[f"{name}_inputs"]).to(device)
    targets = data.get(f"{name}_targets")
    return inputs, (torch.from_numpy(targets).to(device) if targets is not None else None)
'''

OPTIMIZERS = {
    "sgd": "torch.optim.SGD(parameters, lr=lr, momentum={momentum!r}, nesterov={nesterov!r}, "
           "weight_decay=WEIGHT_DECAY)",
    "adam": "torch.optim.Adam(parameters, lr=lr, betas=({beta1!r}, 0.999), weight_decay=WEIGHT_DECAY)",
    "adamw": "torch.optim.AdamW(parameters, lr=lr, betas=({beta1!r}, 0.999), weight_decay=WEIGHT_DECAY)",
    "rmsprop": "torch.optim.RMSprop(parameters, lr=lr, momentum={momentum!r}, weight_decay=WEIGHT_DECAY)",
}

OPTIMIZER = '''

def make_optimizer(parameters, lr=LEARNING_RATE):
    return {optimizer}
'''

SCHEDULE_LAMBDA = '''

def make_schedule(optimizer, steps_per_epoch, epochs):
    """{description}, stepped after every batch."""
    total = max(1, epochs * steps_per_epoch)
    warmup = min(WARMUP_EPOCHS * steps_per_epoch, total)

    def factor(step):
        if step < warmup:
            return (step + 1) / warmup
{body}
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
'''

SCHEDULE_BODIES = {
    "constant": "        return 1.0",
    "step": "        return {gamma!r} ** (step // steps_per_epoch // {step_size!r})",
    "cosine": "        progress = (step - warmup) / max(1, total - warmup)\n"
              "        return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))",
}

SCHEDULE_ONECYCLE = '''

def make_schedule(optimizer, steps_per_epoch, epochs):
    """One-cycle: the rate rises to LEARNING_RATE, then falls far below it; stepped after every batch."""
    return torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=LEARNING_RATE, total_steps=max(2, epochs * steps_per_epoch),
        pct_start={pct_start!r}, cycle_momentum=False)
'''

# --- supervised, language model and autoencoder: one network ---------------------------------------

LOSS = {
    "class": '''

def compute_loss(loss_fn, output, target):
    return loss_fn(output, target)
''',
    "mask": '''

def compute_loss(loss_fn, output, target):
    # scores for every pixel (B, classes, H, W) against masks of class ids (B, H, W)
    return loss_fn(output, target)
''',
    "per_step": '''

def compute_loss(loss_fn, output, target):
    # scores for every step (B, T, classes) against labels (B, T): every step counts
    return loss_fn(output.reshape(-1, output.shape[-1]), target.reshape(-1))
''',
    "binary": '''

def compute_loss(loss_fn, output, target):
    return loss_fn(output, target.reshape(output.shape).to(output.dtype))
''',
    "value": '''

def compute_loss(loss_fn, output, target):
    return loss_fn(output, target.reshape(output.shape).to(output.dtype))
''',
    "self": '''

def compute_loss(loss_fn, output, target):
    return loss_fn(output, target)  # an autoencoder's target is its own input
''',
    "seq2seq": '''

PAD, BOS = 0, 1  # token ids: padding (never counted) and the start of the decoder's input


def decoder_input(target):
    """Teacher forcing: the decoder reads BOS, then the target without its last id."""
    return torch.cat([torch.full_like(target[:, :1], BOS), target[:, :-1]], dim=1)


def compute_loss(loss_fn, output, target):
    # scores for every target step (B, T, vocab) against the target ids (B, T); PAD steps do not count
    return loss_fn(output.reshape(-1, output.shape[-1]), target.reshape(-1))
''',
}

# how evaluation counts a right answer, per kind of output
CORRECT = {
    "class": "(output.argmax(-1) == y).sum().item()",
    "per_step": "(output.argmax(-1) == y).sum().item()",
    "mask": "(output.argmax(1) == y).sum().item()",  # pixels: the accuracy is the pixel accuracy
    "binary": "((output.reshape(-1) > 0).long() == y.reshape(-1)).sum().item()",
}

EVALUATE = '''

@torch.no_grad()
def evaluate(model, loss_fn, inputs, targets):
    """Mean loss{what} over a whole split."""
    model.eval()
    total_loss, {counters}count = 0.0, {zeros}0
    for start in range(0, len(inputs), 1024):
        x = inputs[start:start + 1024]
        y = targets[start:start + 1024] if targets is not None else x
        output = model(x)
        total_loss += compute_loss(loss_fn, output, y).item() * len(x)
{accumulate}        count += y.numel()
    model.train()
    metrics = {{"loss": total_loss / len(inputs)}}
{finish}    return metrics
'''

FREEZE = '''

def freeze(model):
    """Transfer learning: the FROZEN blocks keep their weights (no gradients, so the optimizer leaves
    them out) and their batch-norm statistics (eval mode, so running means stay as loaded)."""
    for name in FROZEN:
        model.get_submodule(name).requires_grad_(False).eval()


def load_init(model, path, device):
    """Start from the weights in `path` (a state_dict); stop with a message, not a traceback, when the
    file cannot be read or holds no weights of this network (a wrong file would otherwise load nothing)."""
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as error:  # unreadable, truncated, not a pickle, refused by weights_only: all one answer
        raise SystemExit(f"{path}: cannot read these weights ({type(error).__name__}: {error}); "
                         "pass a .pt state_dict such as a run's weights.pt")
    if not isinstance(state, dict):
        raise SystemExit(f"{path}: holds a {type(state).__name__}, not a state_dict of named weights")
    own = model.state_dict()
    wrong = [k for k, v in state.items() if k in own and getattr(v, "shape", None) != own[k].shape]
    if wrong:
        raise SystemExit(f"{path}: {wrong[0]} has shape {tuple(state[wrong[0]].shape)}, this network's "
                         f"{tuple(own[wrong[0]].shape)}; these weights are for another network")
    loaded = [k for k in state if k in own]
    if not loaded:
        raise SystemExit(f"{path}: none of its {len(state)} weights belong to this network")
    model.load_state_dict(state, strict=False)
    if not dist.is_initialized() or dist.get_rank() == 0:
        print(f"started from {path}: {len(loaded)} of {len(own)} weights loaded")
'''

TRAIN_ONE = '''

def main():
    parser = argparse.ArgumentParser(description=f"Train {{TITLE}} on the data exported with this script.")
    parser.add_argument("--data", default=str(HERE / DATA_FILE), help="the .npz data file")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", default=str(HERE / WEIGHTS_FILE), help="where to save the weights")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help="samples per step and process (under torchrun a step sees this x processes)")
    args = parser.parse_args()

    rank, world, device = start_processes()
    torch.manual_seed(SEED)  # the same initial weights in every process
    data = dict(np.load(args.data))
    x_train, y_train = load_split(data, "train", device)
    x_val, y_val = load_split(data, "val", device)

    net = {cls}().to(device)
    model = parallel(net, world, device)
    loss_fn = {loss_fn}
    optimizer = make_optimizer(net.parameters())
    sampler = shuffler(len(x_train), rank, world)
{make_schedule}    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=device)  # this process's samples, in this epoch's order
        total = torch.zeros((), device=device)  # summed on the device: no wait for the GPU each step
        for start in range(0, len(order), args.batch_size):
            batch = order[start:start + args.batch_size]
            x = x_train[batch]
            loss = compute_loss(loss_fn, model(x), {target})
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
{clip}            optimizer.step()
{step_schedule}            total += loss.detach() * len(batch)
        if world > 1:
            dist.all_reduce(total)  # the losses of all processes: the figures below are global
        if rank != 0:
            continue  # process 0 evaluates, prints and saves for all
        metrics = {{"train_loss": total.item() / (len(order) * world)}}
        if x_val is not None:
            metrics.update({{f"val_{{k}}": v for k, v in evaluate(net, loss_fn, x_val, y_val).items()}})
        shown = "  ".join(f"{{k}} {{v:.4f}}" for k, v in metrics.items())
        print(f"epoch {{epoch}}/{{args.epochs}}  {{shown}}  ({{time.perf_counter() - started:.1f}}s)")

    if rank == 0:
        torch.save(net.state_dict(), args.out)
        print(f"saved the weights to {{args.out}}")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
'''

ADVERSARIAL = '''


def perturbation_bounds(data, device):
    """(step, low, high): the largest change per input value and the valid range, in the normalised
    units of the inputs (x' = (x - mean) / std); no range when the data has none."""
    mean = torch.as_tensor(data["mean"], device=device) if "mean" in data else torch.zeros((), device=device)
    std = torch.as_tensor(data["std"], device=device) if "std" in data else torch.ones((), device=device)
    if PIXEL_RANGE is None:
        return torch.full_like(std, ADVERSARIAL_EPS), None, None  # eps in standard deviations
    low, high = PIXEL_RANGE  # eps is a fraction of the pixel range
    return ADVERSARIAL_EPS * (high - low) / std, (low - mean) / std, (high - mean) / std


def perturbed(net, loss_fn, x, y, bounds):
    """x moved by at most `step` per value in the direction that raises the loss: FGSM (one step) or
    PGD (ADVERSARIAL_STEPS steps from a random start, each projected back into the allowed box).
    Only the inputs get gradients, so it runs on the plain network, never the DDP wrapper."""
    step, low, high = bounds

    def gradient(inputs):
        inputs = inputs.detach().requires_grad_(True)
        (grad,) = torch.autograd.grad(compute_loss(loss_fn, net(inputs), y).float(), inputs)
        return grad

    def clip(inputs):
        return inputs if low is None else torch.maximum(torch.minimum(inputs, high), low)

    if ADVERSARIAL == "fgsm":
        return clip(x + step * gradient(x).sign()).detach()
    alpha = step * (2.5 / ADVERSARIAL_STEPS)
    moved = clip(x + (torch.rand_like(x) * 2 - 1) * step)
    for _ in range(ADVERSARIAL_STEPS):
        moved = moved + alpha * gradient(moved).sign()
        moved = clip(torch.max(torch.min(moved, x + step), x - step)).detach()
    return moved
'''

# --- GAN: two networks ---------------------------------------------------------------------------------

TRAIN_GAN = '''

def main():
    parser = argparse.ArgumentParser(description=f"Train {{TITLE}} (a GAN) on the exported data.")
    parser.add_argument("--data", default=str(HERE / DATA_FILE), help="the .npz data file")
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--out", default=str(HERE / WEIGHTS_FILE),
                        help="where to save the weights (one file per network: NAME.generator.pt, ...)")
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE,
                        help="samples per step and process (under torchrun a step sees this x processes)")
    args = parser.parse_args()

    rank, world, device = start_processes()
    torch.manual_seed(SEED)  # the same initial weights in every process
    real_images, _ = load_split(dict(np.load(args.data)), "train", device)

    nets = {{"generator": {generator}().to(device), "discriminator": {discriminator}().to(device)}}
    generator, discriminator = (parallel(net, world, device) for net in nets.values())
    torch.manual_seed(SEED + rank)  # but different noise in each process
    bce = nn.BCEWithLogitsLoss()
    g_optimizer = make_optimizer(generator.parameters(), LEARNING_RATE)
    d_optimizer = make_optimizer(discriminator.parameters(), D_LEARNING_RATE)
    sampler = shuffler(len(real_images), rank, world)
    for epoch in range(1, args.epochs + 1):
        started = time.perf_counter()
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=device)  # this process's samples, in this epoch's order
        d_total = torch.zeros((), device=device)  # summed on the device: no wait for the GPU each step
        g_total = torch.zeros((), device=device)
        for start in range(0, len(order), args.batch_size):
            real = real_images[order[start:start + args.batch_size]]
            fake = generator(torch.randn(len(real), LATENT_SIZE, device=device))
            # 1. the discriminator learns to tell real (1) from fake (0)
            real_scores, fake_scores = discriminator(real), discriminator(fake.detach())
            d_loss = (bce(real_scores, torch.ones_like(real_scores))
                      + bce(fake_scores, torch.zeros_like(fake_scores)))
            d_optimizer.zero_grad(set_to_none=True)
            d_loss.backward()
            d_optimizer.step()
            # 2. the generator learns to make the discriminator say "real" (non-saturating loss)
            scores = discriminator(fake)
            g_loss = bce(scores, torch.ones_like(scores))
            g_optimizer.zero_grad(set_to_none=True)
            g_loss.backward()
            g_optimizer.step()
            d_total += d_loss.detach() * len(real)
            g_total += g_loss.detach() * len(real)
        if world > 1:
            dist.all_reduce(d_total)  # the losses of all processes: the figures below are global
            dist.all_reduce(g_total)
        n = len(order) * world
        if rank == 0:
            print(f"epoch {{epoch}}/{{args.epochs}}  d_loss {{d_total.item() / n:.4f}}  "
                  f"g_loss {{g_total.item() / n:.4f}}  "
                  f"({{time.perf_counter() - started:.1f}}s)")

    out = Path(args.out)
    for name, net in nets.items():
        if rank == 0:
            path = out.with_name(f"{{out.stem}}.{{name}}{{out.suffix}}")
            torch.save(net.state_dict(), path)
            print(f"saved the {{name}} weights to {{path}}")
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
'''
