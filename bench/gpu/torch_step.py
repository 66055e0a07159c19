"""One training step of each of the five GANs in PyTorch, with the networks,
batch size, image size and optimiser updates of one runner step at the
official settings (src/detector/<method>/train.rs and model.rs), to time
against the runner on the same device.

Usage:
  torch_step.py --method M [--device cuda|cpu] [--steps N] [--threads T]
                [--channels C] [--side S] [--batch B] [--latent Z] [--width W]
                [--depth D] [--params-only]

M is ganomaly, anogan, alad, fence_gan_mnist, fence_gan_cifar10 or ocgan.
Without overrides every size is the method's official one (MNIST: one
channel); --side/--batch/--latent/--width (every network's width)/--depth
(OCGAN) shrink them for a trial on a slow device. The device defaults to
cuda when PyTorch sees one, else cpu; on a GPU every timing waits for it.

Prints one `params method=M channels=C net=NAME params=N` line per network
(the format of `cargo run --example param_counts`), then
`pytorch method=M ms_per_step=X (mean of N; median Y) device=D` (the
mean, as the runner's step time is a mean over epochs). The inputs are
random: a step's time does not depend on the pixel values.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

# GANomaly's networks and step, and the DCGAN blocks AnoGAN shares with it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "ganomaly"))
import step as ganomaly_step  # noqa: E402


def bce(logit, target):
    """Mean sigmoid cross-entropy of logits towards a constant target."""
    return F.binary_cross_entropy_with_logits(logit, torch.full_like(logit, float(target)))


def count(net):
    return sum(p.numel() for p in net.parameters() if p.requires_grad)


def frozen(net, on):
    for p in net.parameters():
        p.requires_grad_(not on)


def normal_init(std, bn_scale):
    """Conv/dense kernels N(0, std), zero biases; BatchNorm scales 1 or N(1, 0.02)."""

    def init(m):
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.normal_(m.weight, 0.0, std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if bn_scale == "normal":
                nn.init.normal_(m.weight, 1.0, 0.02)
            else:
                nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    return init


class SamePad(nn.Module):
    """TF's padding='same' of a k x k, stride-s convolution on a side x side map."""

    def __init__(self, side, k, s):
        super().__init__()
        out = -(-side // s)
        total = max((out - 1) * s + k - side, 0)
        self.pad = (total // 2, total - total // 2) * 2

    def forward(self, x):
        return F.pad(x, self.pad)


def same_conv(cin, cout, k, s, side):
    return nn.Sequential(SamePad(side, k, s), nn.Conv2d(cin, cout, k, s))


class SameConvT(nn.Module):
    """TF's 'same' transposed convolution: side -> s * side (the runner's SameConvTranspose)."""

    def __init__(self, cin, cout, k, s):
        super().__init__()
        self.s = s
        self.conv = nn.ConvTranspose2d(cin, cout, k, s, (k - s) // 2)

    def forward(self, x):
        h, w = x.shape[2] * self.s, x.shape[3] * self.s
        return self.conv(x)[:, :, :h, :w]


def keras_bn(n, dims=2):
    # Keras: running = 0.99 old + 0.01 batch, epsilon 1e-3.
    return (nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d)(n, eps=1e-3, momentum=0.01)


# --------------------------------------------------------------------------
# GANomaly: bench/ganomaly/step.py's networks and step (batch 64, 32x32).


def ganomaly(a, dev):
    side, c, b = a.side or 32, a.channels, a.batch or 64
    z, w = a.latent or 100, a.width or 64
    g = ganomaly_step.Gen(side, c, z, w)
    d = ganomaly_step.Enc(side, c, 1, w)
    g.apply(ganomaly_step.init)
    d.apply(ganomaly_step.init)
    g, d = g.to(dev), d.to(dev)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.rand(b, c, side, side, device=dev) * 2 - 1

    def step(_):
        fake, zz, z_hat = g(x)
        feat_real, logit_real = d(x)
        _, logit_fake = d(fake.detach())
        frozen(d, True)
        feat_fake, _ = d(fake)
        frozen(d, False)
        loss_g = ((feat_real.detach() - feat_fake).pow(2).mean() + 50 * (x - fake).abs().mean()
                  + (zz - z_hat).pow(2).mean())
        loss_d = 0.5 * (bce(logit_real, 1) + bce(logit_fake, 0))
        opt_g.zero_grad(set_to_none=True)
        opt_d.zero_grad(set_to_none=True)
        (loss_g + loss_d).backward()
        opt_g.step()
        opt_d.step()
        return torch.stack([loss_g.detach(), loss_d.detach()])

    return step, {"generator": g, "discriminator": d}


# --------------------------------------------------------------------------
# AnoGAN: DCGAN G (the GANomaly decoder) and D, BatchNorm scales 1, batch 64;
# one D update, then two G updates on the same z (generator_steps 2).


def anogan(a, dev):
    side, c, b = a.side or 32, a.channels, a.batch or 64
    nz, w = a.latent or 100, a.width or 64
    g = ganomaly_step.decoder(side, c, nz, w)
    d = ganomaly_step.Enc(side, c, 1, w)
    g.apply(normal_init(0.02, "ones"))
    d.apply(normal_init(0.02, "ones"))
    g, d = g.to(dev), d.to(dev)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    x = torch.rand(b, c, side, side, device=dev) * 2 - 1

    def step(_):
        z = torch.rand(b, nz, 1, 1, device=dev) * 2 - 1
        with torch.no_grad():
            fake = g(z)
        loss_d = bce(d(x)[1].flatten(), 1) + bce(d(fake)[1].flatten(), 0)
        opt_d.zero_grad(set_to_none=True)
        loss_d.backward()
        opt_d.step()
        frozen(d, True)
        for _ in range(2):
            loss_g = bce(d(g(z))[1].flatten(), 1)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            opt_g.step()
        frozen(d, False)
        return torch.stack([loss_g.detach(), loss_d.detach()])

    return step, {"generator": g, "discriminator": d}


# --------------------------------------------------------------------------
# ALAD: E, G, D_xz, D_xx, D_zz (alad/cifar10_utilities.py), spectral
# normalisation with one power iteration per training forward, dropout 0.2,
# batch 32; per step one update of the three discriminators on one batch,
# then one of G and E on another, each followed by the 0.999 moving average
# of the networks scoring uses (E, G, D_xx).


class SN(nn.Module):
    """Spectral normalisation of a wrapped conv or dense kernel, TF's utils/sn.py:
    one power iteration from a persistent u per forward, gradients through it."""

    def __init__(self, layer, on):
        super().__init__()
        self.layer, self.on = layer, on
        out = layer.weight.shape[0]  # conv [out, in, k, k]; dense [out, in]
        self.register_buffer("u", torch.randn(1, out))

    def kernel(self):
        w = self.layer.weight
        if not self.on:
            return w
        m = w.reshape(w.shape[0], -1).t()  # [rows, out]
        v = self.u @ m.t()
        v = v / (v.pow(2).sum().sqrt() + 1e-12)
        vw = v @ m
        u = vw / (vw.pow(2).sum().sqrt() + 1e-12)
        sigma = vw @ u.t()
        if self.training and torch.is_grad_enabled():
            self.u = u.detach()  # a new tensor: the old u is still in the graph
        return w / sigma

    def forward(self, x):
        if isinstance(self.layer, nn.Linear):
            return F.linear(x, self.kernel(), self.layer.bias)
        conv = self.layer
        return F.conv2d(x, self.kernel(), conv.bias, conv.stride, conv.padding)


def sn_same_conv(cin, cout, k, s, side, on):
    return nn.Sequential(SamePad(side, k, s), SN(nn.Conv2d(cin, cout, k, s), on))


class AladE(nn.Module):
    def __init__(self, c, side, nz, w, sn):
        super().__init__()
        layers, cin = [], c
        for i in range((side // 4).bit_length() - 1):
            layers += [sn_same_conv(cin, w << i, 4, 2, side >> i, sn), keras_bn(w << i), nn.LeakyReLU(0.2)]
            cin = w << i
        self.body = nn.Sequential(*layers)
        self.last = nn.Conv2d(cin, nz, 4)

    def forward(self, x):
        return self.last(self.body(x)).flatten(1)


class AladG(nn.Module):
    def __init__(self, c, side, nz, w):
        super().__init__()
        n = (side // 4).bit_length() - 1
        width = w << (n - 1)
        layers = [nn.ConvTranspose2d(nz, width, 4, 2), keras_bn(width), nn.ReLU()]
        for _ in range(1, n):
            layers += [SameConvT(width, width // 2, 4, 2), keras_bn(width // 2), nn.ReLU()]
            width //= 2
        layers += [SameConvT(width, c, 4, 2), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, z):
        return self.body(z[:, :, None, None])


class AladDxz(nn.Module):
    def __init__(self, c, side, nz, w, sn):
        super().__init__()
        n = (side // 4).bit_length() - 1
        layers, cin = [], c
        for i in range(n):
            layers.append(sn_same_conv(cin, w << i, 4, 2, side >> i, sn))
            if i > 0:
                layers.append(keras_bn(w << i))
            layers.append(nn.LeakyReLU(0.2))
            cin = w << i
        self.x = nn.Sequential(*layers)
        self.z1 = SN(nn.Linear(nz, 4 * w), sn)
        self.z2 = SN(nn.Linear(4 * w, 4 * w), sn)
        self.joint = SN(nn.Linear(16 * cin + 4 * w, 8 * w), sn)
        self.out = nn.Linear(8 * w, 1)

    def forward(self, x, z):
        hx = self.x(x).flatten(1)
        hz = F.dropout(F.leaky_relu(self.z1(z), 0.2), 0.2, self.training)
        hz = F.dropout(F.leaky_relu(self.z2(hz), 0.2), 0.2, self.training)
        f = F.dropout(F.leaky_relu(self.joint(torch.cat([hx, hz], 1)), 0.2), 0.2, self.training)
        return self.out(f).flatten()


class AladDxx(nn.Module):
    def __init__(self, c, side, w, sn):
        super().__init__()
        self.c1 = sn_same_conv(c, w, 5, 2, side, sn)
        self.c2 = sn_same_conv(w, 2 * w, 5, 2, side // 2, sn)
        self.out = nn.Linear(2 * w * (side // 2) * (side // 4), 1)

    def forward(self, x, other):
        h = torch.cat([x, other], 2)  # stacked along the height, as the reference
        h = F.dropout(F.leaky_relu(self.c1(h), 0.2), 0.2, self.training)
        h = F.dropout(F.leaky_relu(self.c2(h), 0.2), 0.2, self.training)
        return self.out(h.flatten(1)).flatten()


class AladDzz(nn.Module):
    def __init__(self, nz, w, sn):
        super().__init__()
        self.d1 = SN(nn.Linear(2 * nz, w), sn)
        self.d2 = SN(nn.Linear(w, w // 2), sn)
        self.out = nn.Linear(w // 2, 1)

    def forward(self, z, other):
        h = F.dropout(F.leaky_relu(self.d1(torch.cat([z, other], 1)), 0.2), 0.2, self.training)
        h = F.dropout(F.leaky_relu(self.d2(h), 0.2), 0.2, self.training)
        return self.out(h).flatten()


class Ema:
    """TF's ExponentialMovingAverage(0.999) of a network's parameters."""

    def __init__(self, net):
        self.params = [p for p in net.parameters()]
        self.shadows = [p.detach().clone() for p in self.params]

    def update(self):
        with torch.no_grad():
            torch._foreach_lerp_(self.shadows, [p.detach() for p in self.params], 0.001)


def alad(a, dev):
    side, c, b = a.side or 32, a.channels, a.batch or 32
    nz = a.latent or 100
    we = wg = wxz = a.width or 128
    wxx = wzz = a.width or 64
    e, g = AladE(c, side, nz, we, True), AladG(c, side, nz, wg)
    dxz, dxx, dzz = AladDxz(c, side, nz, wxz, True), AladDxx(c, side, wxx, True), AladDzz(nz, wzz, True)
    nets = {"encoder": e, "generator": g, "dxz": dxz, "dxx": dxx, "dzz": dzz}
    for n in nets.values():
        n.apply(normal_init(0.01, "ones"))
        n.to(dev)
    adam = {k: torch.optim.Adam(n.parameters(), lr=2e-4, betas=(0.5, 0.999)) for k, n in nets.items()}
    ema = {k: Ema(nets[k]) for k in ("encoder", "generator", "dxx")}
    x1 = torch.rand(b, c, side, side, device=dev) * 2 - 1
    x2 = torch.rand(b, c, side, side, device=dev) * 2 - 1

    def step(_):
        # The three discriminators on the first batch.
        x, z = x1, torch.randn(b, nz, device=dev)
        with torch.no_grad():
            z_gen, x_gen = e(x), g(z)
            rec_x, rec_z = g(z_gen), e(x_gen)
        loss_xz = bce(dxz(x, z_gen), 1) + bce(dxz(x_gen, z), 0)
        loss_xx = bce(dxx(x, x), 1) + bce(dxx(x, rec_x), 0)
        loss_zz = bce(dzz(z, z), 1) + bce(dzz(z, rec_z), 0)
        for k in ("dxz", "dxx", "dzz"):
            adam[k].zero_grad(set_to_none=True)
        (loss_xz + loss_xx + loss_zz).backward()
        for k in ("dxz", "dxx", "dzz"):
            adam[k].step()
        ema["dxx"].update()
        # The generator and the encoder on the second batch, D's frozen.
        x, z = x2, torch.randn(b, nz, device=dev)
        z_gen, x_gen = e(x), g(z)
        rec_x, rec_z = g(z_gen), e(x_gen)
        for k in ("dxz", "dxx", "dzz"):
            frozen(nets[k], True)
        gen_xz, enc_xz = bce(dxz(x_gen, z), 1), bce(dxz(x, z_gen), 0)
        cycle = (bce(dxx(x, x), 0) + bce(dxx(x, rec_x), 1)
                 + bce(dzz(z, z), 0) + bce(dzz(z, rec_z), 1))
        adam["generator"].zero_grad(set_to_none=True)
        adam["encoder"].zero_grad(set_to_none=True)
        (gen_xz + enc_xz + cycle).backward()
        adam["generator"].step()
        adam["encoder"].step()
        for k in ("dxz", "dxx", "dzz"):
            frozen(nets[k], False)
        ema["generator"].update()
        ema["encoder"].update()
        return torch.stack([loss_xz + loss_xx + loss_zz, gen_xz + cycle, enc_xz + cycle]).detach()

    return step, nets


# --------------------------------------------------------------------------
# FenceGAN (utils/model.py): per adversarial step two D updates (real images;
# G's images in inference mode, weighted gamma) and one G update
# (encirclement + beta * dispersion) through a frozen D. Adam eps 1e-7.


class FenceMnistG(nn.Module):
    def __init__(self, c, side, nz, w):
        super().__init__()
        self.s0, self.w = side // 4, w
        self.d1, self.n1 = nn.Linear(nz, 16 * w), keras_bn(16 * w, 1)
        self.d2, self.n2 = nn.Linear(16 * w, self.s0 ** 2 * 2 * w), keras_bn(self.s0 ** 2 * 2 * w, 1)
        self.up, self.n3 = SameConvT(2 * w, w, 4, 2), keras_bn(w)
        self.last = SameConvT(w, c, 4, 2)

    def forward(self, z):
        h = self.n1(F.relu(self.d1(z)))
        h = self.n2(F.relu(self.d2(h))).reshape(-1, 2 * self.w, self.s0, self.s0)
        h = self.n3(F.relu(self.up(h)))
        return torch.tanh(self.last(h))


class FenceMnistD(nn.Module):
    def __init__(self, c, side, w):
        super().__init__()
        self.c1, self.c2 = same_conv(c, w, 4, 2, side), same_conv(w, w, 4, 2, side // 2)
        self.dense, self.out = nn.Linear(w * (side // 4) ** 2, 16 * w), nn.Linear(16 * w, 1)

    def forward(self, x):
        h = F.leaky_relu(self.c2(F.leaky_relu(self.c1(x), 0.1)), 0.1)
        return self.out(F.leaky_relu(self.dense(h.flatten(1)), 0.1)).flatten()


class FenceCifarG(nn.Module):
    def __init__(self, c, side, nz, w):
        super().__init__()
        self.s0, self.w = side // 16, w
        self.dense, self.norm = nn.Linear(nz, self.s0 ** 2 * 8 * w), keras_bn(8 * w)
        ups, width = [], 8 * w
        for _ in range(3):
            ups += [SameConvT(width, width // 2, 5, 2), keras_bn(width // 2), nn.LeakyReLU(0.2)]
            width //= 2
        self.ups = nn.Sequential(*ups)
        self.last = SameConvT(w, c, 5, 2)

    def forward(self, z):
        h = self.dense(z).reshape(-1, 8 * self.w, self.s0, self.s0)
        h = self.ups(F.leaky_relu(self.norm(h), 0.2))
        return torch.tanh(self.last(h))


class FenceCifarD(nn.Module):
    def __init__(self, c, side, w):
        super().__init__()
        layers, cin = [], c
        for k in range(3):
            layers += [same_conv(cin, w << k, 5, 2, side >> k), keras_bn(w << k), nn.LeakyReLU(0.2)]
            cin = w << k
        layers += [same_conv(cin, 8 * w, 5, 2, side >> 3), nn.LeakyReLU(0.2)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Linear(8 * w * (side // 16) ** 2, 1)

    def forward(self, x):
        return self.out(F.dropout(self.body(x).flatten(1), 0.2, self.training)).flatten()


def fence_gan(a, dev, network):
    c = a.channels
    if network == "mnist":
        side, b, nz, w = a.side or 28, a.batch or 200, a.latent or 200, a.width or 64
        g, d = FenceMnistG(c, side, nz, w), FenceMnistD(c, side, w)
        alpha, beta, gamma, d_lr, g_lr = 0.1, 30.0, 0.1, 1e-5, 2e-5
        g.apply(normal_init(0.02, "ones"))
        d.apply(normal_init(0.02, "ones"))
    else:
        side, b, nz, w = a.side or 32, a.batch or 128, a.latent or 256, a.width or 32
        g, d = FenceCifarG(c, side, nz, w), FenceCifarD(c, side, w)
        alpha, beta, gamma, d_lr, g_lr = 0.5, 10.0, 0.5, 1e-4, 1e-3
        for m in list(g.modules()) + list(d.modules()):
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
                nn.init.xavier_normal_(m.weight)
                nn.init.zeros_(m.bias)
    g, d = g.to(dev), d.to(dev)
    opt_g = torch.optim.Adam(g.parameters(), lr=g_lr, betas=(0.5, 0.999), eps=1e-7)
    opt_d = torch.optim.Adam(d.parameters(), lr=d_lr, betas=(0.5, 0.999), eps=1e-7)
    x = torch.rand(b, c, side, side, device=dev) * 2 - 1

    def d_update(images, target, weight):
        loss = weight * bce(d(images), target)
        opt_d.zero_grad(set_to_none=True)
        loss.backward()
        opt_d.step()
        return loss.detach()

    def step(_):
        d_real = d_update(x, 1, 1.0)
        g.eval()
        with torch.no_grad():
            fake = g(torch.randn(b, nz, device=dev))
        g.train()
        d_fake = d_update(fake, 0, gamma)
        fake = g(torch.randn(b, nz, device=dev))
        frozen(d, True)
        enc = bce(d(fake), alpha)
        frozen(d, False)
        center = fake.mean(0, keepdim=True)
        disp = 1.0 / (fake - center).pow(2).flatten(1).sum(1).sqrt().mean()
        loss = enc + beta * disp
        opt_g.zero_grad(set_to_none=True)
        loss.backward()
        opt_g.step()
        return torch.stack([d_real, d_fake, loss.detach(), disp.detach()])

    return step, {"generator": g, "discriminator": d}


# --------------------------------------------------------------------------
# OCGAN (models.py, andgan.py trainadnov): 5x5 stride-2 valid convolutions,
# 61x61 (depth 3), latent 16 (tanh), batch 512; per step: the inference-mode
# codes and reconstructions, (while mining: one gradient step on the random
# codes through the classifier), one update of the visual and latent
# discriminators and the classifier, one of the auto-encoder.


def oc_bn(n):
    # MXNet momentum 0.1 (0.1 old + 0.9 batch), epsilon 1e-5.
    return nn.BatchNorm2d(n, eps=1e-5, momentum=0.9)


class OcAE(nn.Module):
    def __init__(self, c, depth, nz, w):
        super().__init__()
        enc = [nn.Conv2d(c, w, 5, 2), nn.LeakyReLU(0.2)]
        for n in range(1, depth):
            enc += [nn.Conv2d(w << (n - 1), w << n, 5, 2, bias=False), oc_bn(w << n), nn.LeakyReLU(0.2)]
        enc += [nn.Conv2d(w << (depth - 1), nz, 5, 2, bias=False)]
        self.enc = nn.Sequential(*enc)
        self.first = nn.Sequential(nn.ConvTranspose2d(nz, w << (depth - 1), 5, 2, bias=False),
                                   oc_bn(w << (depth - 1)))
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.ConvTranspose2d(w << (depth - n), w << (depth - n - 1), 5, 2, bias=False),
                          oc_bn(w << (depth - n - 1)))
            for n in range(1, depth))
        self.last = nn.ConvTranspose2d(w, c, 5, 2)

    def encode(self, x):
        return torch.tanh(self.enc(x).flatten(1))

    def decode(self, z):
        h = F.relu(self.first(z[:, :, None, None]))
        for i, blk in enumerate(self.blocks):
            h = blk(h)
            if i + 1 == 2:
                h = F.dropout(h, 0.5, self.training)
            h = F.relu(h)
        return torch.tanh(self.last(h))


class OcD(nn.Module):
    def __init__(self, c, depth, w):
        super().__init__()
        layers, mult = [nn.Conv2d(c, w, 5, 2), nn.LeakyReLU(0.2)], 1
        for n in range(1, depth):
            prev, mult = mult, min(1 << n, 8)
            layers += [nn.Conv2d(w * prev, w * mult, 5, 2, bias=False), oc_bn(w * mult), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv2d(w * mult, 1, 5, 2))
        self.body = nn.Sequential(*layers)

    def forward(self, x):
        return self.body(x).flatten()


class OcLatentD(nn.Module):
    def __init__(self, nz):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(nz, 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                                  nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 16), nn.Sigmoid())

    def forward(self, z):
        return self.body(z).flatten()


def ocgan(a, dev):
    c, depth, b = a.channels, a.depth or 3, a.batch or 512
    nz, w = a.latent or 16, a.width or 64
    ndf = a.width or (12 if c == 1 else 8)
    noise_std, lam = (0.2, 10.0) if c == 1 else (0.02, 500.0)
    side = (1 << (depth + 3)) - 3
    ae, vis, lat, cls = OcAE(c, depth, nz, w), OcD(c, depth, ndf), OcLatentD(nz), OcD(c, depth, w)
    nets = {"autoencoder": ae, "visual": vis, "latent": lat, "classifier": cls}
    for n in nets.values():
        n.apply(normal_init(0.02, "normal"))
        n.to(dev)
    for m in lat.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.bias, 0.0, 0.02)
    adam = {k: torch.optim.Adam(n.parameters(), lr=2e-4, betas=(0.5, 0.999)) for k, n in nets.items()}
    x = torch.rand(b, c, side, side, device=dev) * 2 - 1
    noisy = x + noise_std * torch.randn_like(x)  # drawn once per image, as the reference

    def u(n):
        return torch.rand(n, nz, device=dev) * 2 - 1

    def step(mine):
        # 1. Inference-mode codes and reconstructions.
        ae.eval()
        with torch.no_grad():
            z0 = ae.encode(noisy)
            x0 = ae.decode(z0)
        ae.train()
        # 2. Random codes, mined through the classifier.
        mu = u(b)
        frozen(ae, True)
        frozen(cls, True)
        if mine:
            leaf = mu.clone().requires_grad_(True)
            loss = F.softplus(cls(ae.decode(torch.tanh(leaf)))).sum()
            (grad,) = torch.autograd.grad(loss, leaf)
            mu = mu - 2.0 * grad
        frozen(cls, False)
        mined = torch.tanh(mu)
        # 3. Visual and latent discriminators and the classifier.
        with torch.no_grad():
            fake = ae.decode(u(b))
        frozen(ae, False)
        loss_v = 0.5 * (bce(vis(x), 1) + bce(vis(fake), 0))
        loss_l = 0.5 * (bce(lat(u(b)), 1) + bce(lat(z0), 0))
        loss_c = 0.5 * (bce(cls(x0), 1) + bce(cls(fake), 0))
        for k in ("visual", "latent", "classifier"):
            adam[k].zero_grad(set_to_none=True)
        (loss_v + loss_l + loss_c).backward()
        for k in ("visual", "latent", "classifier"):
            adam[k].step()
        # 4. The auto-encoder through the updated, frozen discriminators.
        frozen(vis, True)
        frozen(lat, True)
        adv_v = bce(vis(ae.decode(mined)), 1)
        z = ae.encode(noisy)
        adv_l = bce(lat(z), 1)
        rec = 0.5 * (x - ae.decode(z)).pow(2).mean()
        loss = 10.0 * adv_l + adv_v + lam * rec
        adam["autoencoder"].zero_grad(set_to_none=True)
        loss.backward()
        adam["autoencoder"].step()
        frozen(vis, False)
        frozen(lat, False)
        return torch.stack([loss_v, loss_l, loss_c, loss, rec]).detach()

    return step, nets


METHODS = {
    "ganomaly": ganomaly,
    "anogan": anogan,
    "alad": alad,
    "fence_gan_mnist": lambda a, dev: fence_gan(a, dev, "mnist"),
    "fence_gan_cifar10": lambda a, dev: fence_gan(a, dev, "cifar10"),
    "ocgan": ocgan,
}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--method", required=True, choices=sorted(METHODS))
    p.add_argument("--device", default=None)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--channels", type=int, default=1)
    p.add_argument("--side", type=int, default=0)
    p.add_argument("--batch", type=int, default=0)
    p.add_argument("--latent", type=int, default=0)
    p.add_argument("--width", type=int, default=0)
    p.add_argument("--depth", type=int, default=0)
    p.add_argument("--params-only", action="store_true")
    a = p.parse_args()
    dev = torch.device(a.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    step, nets = METHODS[a.method](a, dev)
    for name, net in nets.items():
        print(f"params method={a.method} channels={a.channels} net={name} params={count(net)}", flush=True)
    if a.params_only:
        return

    def sync():
        if dev.type == "cuda":
            torch.cuda.synchronize()

    # OCGAN mines in the last quarter of its steps (mining_from 0.75): the
    # same share of the timed steps mines here, so the mean is a full job's.
    ocgan_run = a.method == "ocgan"
    for i in range(a.warmup):
        step(ocgan_run and i % 2 == 0).cpu()
    sync()
    times = []
    for i in range(a.steps):
        t = time.perf_counter()
        losses = step(ocgan_run and i >= a.steps - a.steps // 4).cpu()  # one read of the step's losses, as the runner checks them
        times.append((time.perf_counter() - t) * 1e3)
        if not torch.isfinite(losses).all():
            print(f"non-finite loss at step {i}: {losses.tolist()}", file=sys.stderr)
    mean = sum(times) / len(times)
    times.sort()
    print(f"pytorch method={a.method} ms_per_step={mean:.2f} (mean of {a.steps}; "
          f"median {times[len(times) // 2]:.2f}) device={dev.type}")


if __name__ == "__main__":
    main()
