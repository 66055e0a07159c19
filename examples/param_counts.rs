//! Prints the trainable parameters of every network of the five GANs at
//! their official settings, for one-channel (MNIST) and three-channel
//! (CIFAR-10) images: `cargo run --example param_counts`. One line per
//! network, `runner method=M channels=C net=NAME params=N`, in the format
//! `bench/gpu/torch_step.py --params-only` prints for its PyTorch copies, so
//! that the two can be compared line by line (`bench/gpu/README.md`).
//!
//! Only trainable parameters count: BatchNorm running statistics and the
//! spectral-normalisation vectors, which burn's `num_params` also counts,
//! are not parameters in PyTorch.

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::{Device, Tensor};
use runner::detector::gan::{Start, Training};
use runner::detector::{alad, anogan, fence_gan, ganomaly, ocgan};
use runner::device::DeviceChoice;
use runner::nn::burn_device::burn_device;
use runner::nn::dcgan::DcganNet;
use runner::spec::methods::fence_gan::Network;
use runner::spec::methods::{
    AladParams, AnoGanParams, FenceGanParams, GanomalyParams, OcGanParams,
};

/// Trainable parameters of `module` (on an autodiff device, the tensors
/// that require a gradient).
fn trainable<M: Module>(module: &M) -> usize {
    struct Count(usize);
    impl ModuleVisitor for Count {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            if param.val().is_require_grad() {
                self.0 += param.val().shape().num_elements();
            }
        }
    }
    let mut c = Count(0);
    module.visit(&mut c);
    c.0
}

fn line(method: &str, channels: usize, nets: &[(&str, usize)]) {
    for (name, n) in nets {
        println!("runner method={method} channels={channels} net={name} params={n}");
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let device: Device = burn_device(DeviceChoice::Cpu)?;
    let start = || Start::new(0, &device);
    for channels in [1, 3] {
        let p = GanomalyParams::default();
        let net = DcganNet::new(ganomaly::model::shapes(&p), channels)?;
        let t = ganomaly::train::Trainer::new(&net, &p, start())?;
        line(
            "ganomaly",
            channels,
            &[
                ("generator", trainable(&t.nets.generator)),
                ("discriminator", trainable(&t.nets.discriminator)),
            ],
        );

        let p = AnoGanParams::default();
        let net = DcganNet::new(anogan::model::shapes(&p), channels)?;
        let t = anogan::train::Trainer::new(&net, &p, start())?;
        line(
            "anogan",
            channels,
            &[
                ("generator", trainable(&t.nets.generator)),
                ("discriminator", trainable(&t.nets.discriminator)),
            ],
        );

        let p = AladParams::default();
        let net = alad::model::NetConfig::new(&p, channels)?;
        let t = alad::train::Trainer::new(&net, &p, start())?;
        line(
            "alad",
            channels,
            &[
                ("encoder", trainable(&t.encoder)),
                ("generator", trainable(&t.generator)),
                ("dxz", trainable(&t.dxz)),
                ("dxx", trainable(&t.dxx)),
                ("dzz", t.dzz.as_ref().map_or(0, trainable)),
            ],
        );

        // The official network of each dataset, and the other one at the
        // side it needs (MNIST resized to 32 for the CIFAR-10 network).
        for (network, name, side) in [
            (Network::Mnist, "fence_gan_mnist", 28),
            (Network::Cifar10, "fence_gan_cifar10", 32),
        ] {
            let p = FenceGanParams {
                network,
                image_size: Some(side),
                ..FenceGanParams::default()
            };
            let net = fence_gan::model::NetConfig::new(&p, channels, side, side)?;
            let t = fence_gan::train::Trainer::new(&net, &p, start())?;
            line(
                name,
                channels,
                &[
                    ("generator", trainable(&t.nets.generator)),
                    ("discriminator", trainable(&t.nets.discriminator)),
                ],
            );
        }

        let p = OcGanParams::default();
        let net = ocgan::model::NetConfig::new(&p, channels)?;
        let t = ocgan::train::Trainer::new(&net, &p, start())?;
        line(
            "ocgan",
            channels,
            &[
                ("autoencoder", trainable(&t.autoencoder)),
                ("visual", trainable(&t.visual)),
                ("latent", trainable(&t.latent)),
                ("classifier", trainable(&t.classifier)),
            ],
        );
    }
    Ok(())
}
