//! The Vulkan adapters of this machine, listed through wgpu (not burn), once
//! per process: instances of the Vulkan loader are best not made and dropped
//! over and over.

use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};

use super::{AdapterSummary, name_adapters};

static FOUND: OnceLock<Vec<AdapterSummary>> = OnceLock::new();

/// The adapters in the loader's order (empty without a Vulkan driver).
pub fn found() -> &'static [AdapterSummary] {
    FOUND.get_or_init(|| {
        let instance = wgpu::Instance::new(wgpu::InstanceDescriptor {
            backends: wgpu::Backends::VULKAN,
            ..wgpu::InstanceDescriptor::new_without_display_handle()
        });
        let listed = block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN))
            .iter()
            .map(|a| {
                let info = a.get_info();
                let kind = match info.device_type {
                    wgpu::DeviceType::DiscreteGpu => "discrete",
                    wgpu::DeviceType::IntegratedGpu => "integrated",
                    wgpu::DeviceType::VirtualGpu => "virtual",
                    wgpu::DeviceType::Cpu => "cpu",
                    wgpu::DeviceType::Other => "other",
                };
                let driver = format!("{} {}", info.driver, info.driver_info)
                    .trim()
                    .to_string();
                (info.name, kind, driver)
            })
            .collect();
        name_adapters(listed)
    })
}

/// Runs a future to its end on this thread (wgpu's native futures are
/// ready at once; this only waits if one is not).
fn block_on<F: Future>(f: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut f = std::pin::pin!(f);
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}
