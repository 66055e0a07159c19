"""One GANomaly training step in PyTorch, the same networks and the same
formulation as the runner (src/detector/ganomaly/train.rs): generator
G_E -> G_D -> E, discriminator with its 4x4 feature map, one forward pass of
each, the feature-matching term through D with its parameters frozen, one
backward pass, Adam on G and on D.

Usage: step.py CHANNELS STEPS THREADS [SIDE] [BATCH] [DEVICE]
DEVICE is a torch device (`cpu`, the default, or `cuda`); on a GPU each
timing waits for the device (torch.cuda.synchronize).
Prints `pytorch channels=C ms_per_step=M (median of N)`, then
`sgemm_gflops=P` (a 2048^3 matrix product on the same threads) and
`step_gflop=F` (multiply-adds x 2 of the step's convolutions)."""

import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def encoder(side, c, latent, width):
    layers = [nn.Conv2d(c, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2)]
    s, w = side // 2, width
    while s > 4:
        layers += [nn.Conv2d(w, 2 * w, 4, 2, 1, bias=False), nn.BatchNorm2d(2 * w), nn.LeakyReLU(0.2)]
        s, w = s // 2, 2 * w
    features = nn.Sequential(*layers)
    return features, nn.Conv2d(w, latent, 4, 1, 0, bias=False)


def decoder(side, c, latent, width):
    halvings = ((side // 2) // 4).bit_length() - 1
    w = width << halvings
    layers = [nn.ConvTranspose2d(latent, w, 4, 1, 0, bias=False), nn.BatchNorm2d(w), nn.ReLU()]
    for _ in range(halvings):
        layers += [nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(w // 2), nn.ReLU()]
        w //= 2
    layers += [nn.ConvTranspose2d(w, c, 4, 2, 1, bias=False), nn.Tanh()]
    return nn.Sequential(*layers)


class Enc(nn.Module):
    def __init__(self, *a):
        super().__init__()
        self.features, self.last = encoder(*a)

    def forward(self, x):
        f = self.features(x)
        return f, self.last(f)


class Gen(nn.Module):
    def __init__(self, side, c, latent, width):
        super().__init__()
        self.enc = Enc(side, c, latent, width)
        self.dec = decoder(side, c, latent, width)
        self.enc2 = Enc(side, c, latent, width)

    def forward(self, x):
        z = self.enc(x)[1]
        fake = self.dec(z)
        return fake, z, self.enc2(fake)[1]


def init(m):
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def conv_flop(net, x):
    """2 x multiply-adds of every (transposed) convolution for input x."""
    total = [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):
            k = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
            total[0] += 2 * out.numel() * k
        elif isinstance(m, nn.ConvTranspose2d):
            k = m.out_channels * m.kernel_size[0] * m.kernel_size[1]
            total[0] += 2 * inp[0].numel() * k

    hs = [m.register_forward_hook(hook) for m in net.modules()]
    with torch.no_grad():
        net(x)
    for h in hs:
        h.remove()
    return total[0]


def main():
    c, steps, threads = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    side = int(sys.argv[4]) if len(sys.argv) > 4 else 32
    batch = int(sys.argv[5]) if len(sys.argv) > 5 else 64
    device = torch.device(sys.argv[6] if len(sys.argv) > 6 else "cpu")

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    g, d = Gen(side, c, 100, 64), Enc(side, c, 1, 64)
    g.apply(init)
    d.apply(init)
    g, d = g.to(device), d.to(device)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = (torch.rand(batch, c, side, side) * 2 - 1).to(device)

    def step():
        fake, z, z_hat = g(x)
        feat_real, logit_real = d(x)
        _, logit_fake = d(fake.detach())
        for p in d.parameters():
            p.requires_grad_(False)
        feat_fake, _ = d(fake)
        for p in d.parameters():
            p.requires_grad_(True)
        adv = (feat_real.detach() - feat_fake).pow(2).mean()
        con = (x - fake).abs().mean()
        enc = (z - z_hat).pow(2).mean()
        loss_g = adv + 50 * con + enc
        ones, zeros = torch.ones_like(logit_real), torch.zeros_like(logit_fake)
        loss_d = 0.5 * (F.binary_cross_entropy_with_logits(logit_real, ones)
                        + F.binary_cross_entropy_with_logits(logit_fake, zeros))
        opt_g.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)
        (loss_g + loss_d).backward()
        opt_g.step()
        opt_d.step()
        return loss_g.item(), loss_d.item()

    for _ in range(2):
        step()
    sync()
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        step()
        sync()
        times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    print(f"pytorch channels={c} ms_per_step={times[len(times) // 2]:.1f} (median of {steps})")

    n = 2048
    a, b = torch.rand(n, n, device=device), torch.rand(n, n, device=device)
    a @ b
    sync()
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        a @ b
        sync()
        best = min(best, time.perf_counter() - t)
    print(f"sgemm_gflops={2 * n ** 3 / best / 1e9:.1f}")

    # Forward FLOP of each pass, then the step: G forward + backward (input
    # and weight gradients: 3x), D on x and on x_hat for D's loss (3x each,
    # less the first layer's unused input gradient, ignored here), D on x_hat
    # frozen (forward + input gradient: 2x).
    fg = conv_flop(g, x)
    fd = conv_flop(d, x)
    print(f"step_gflop={(3 * fg + 3 * fd + 3 * fd + 2 * fd) / 1e9:.2f}")


if __name__ == "__main__":
    main()
