//! Tests of the image-folder reader and format.

use super::super::testutil::*;
use super::*;

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn folder_tar_and_tar_gz_give_the_same_images() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("shapes");
    let expected = write_image_folder(&root, &["b", "a", "c"], 3, 4, 2, 3);
    let src = find(&root).unwrap();
    let listing = scan(&src, None).unwrap();
    let cls = classes(&listing, None, &root, None).unwrap();
    assert_eq!(cls, names(&["a", "b", "c"]));
    let (tr, te) = load(&src, &cls, None).unwrap();
    assert_eq!(tr.channels, 3);
    assert_eq!((tr.height, tr.width), (4, 2));
    assert_eq!(tr.class_counts(3), vec![3, 3, 3]);
    assert_eq!(te.class_counts(3), vec![2, 2, 2]);
    // png is lossless: exact pixels
    assert_eq!(tr.image(0), &expected["train/a/0.png"][..]);

    for gz in [false, true] {
        let tgz = dir.path().join(if gz { "s.tar.gz" } else { "s.tar" });
        tar_gz_dir(&root, &tgz, gz);
        let src2 = find(&tgz).unwrap();
        assert_eq!(src2, Source::Archive(tgz.clone()));
        let l2 = scan(&src2, None).unwrap();
        assert_eq!(classes(&l2, None, &tgz, None).unwrap(), cls);
        let (tr2, te2) = load(&src2, &cls, None).unwrap();
        assert_eq!(tr2, tr);
        assert_eq!(te2, te);
    }

    // an explicit list fixes the label order
    let fixed = names(&["c", "b", "a"]);
    let cls2 = classes(&listing, Some(&fixed), &root, None).unwrap();
    let (tr3, _) = load(&src, &cls2, None).unwrap();
    assert_eq!(tr3.image(0), &expected["train/c/0.png"][..]);
    assert_eq!(tr3.labels[0], 0);
}

#[test]
fn grayscale_stays_one_channel_and_jpeg_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("g");
    write_image_folder(&root, &["x", "y"], 1, 5, 6, 2);
    let cls = classes(
        &scan(&find(&root).unwrap(), None).unwrap(),
        None,
        &root,
        None,
    )
    .unwrap();
    let (tr, te) = load(&find(&root).unwrap(), &cls, None).unwrap();
    assert_eq!(tr.channels, 1);
    assert_eq!(tr.len(), 4);
    assert_eq!(te.len(), 2);
    // the jpg files (test split) decode to roughly the written gray values
    let want = gray_value(0, 0);
    let got = te.image(0)[0] as i32;
    assert!((got - want as i32).abs() <= 8, "{got} vs {want}");
}

#[test]
fn bad_folders_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("d");
    write_image_folder(&root, &["a", "b"], 3, 4, 4, 2);
    // an empty class folder
    std::fs::create_dir_all(root.join("train/c")).unwrap();
    std::fs::create_dir_all(root.join("test/c")).unwrap();
    let l = scan(&find(&root).unwrap(), None).unwrap();
    let e = classes(&l, None, &root, None).unwrap_err().to_string();
    assert!(e.contains("`train/c` is empty or missing"), "{e}");
    // also inside an archive (directory entries)
    let tgz = dir.path().join("d.tar.gz");
    tar_gz_dir(&root, &tgz, true);
    let l = scan(&find(&tgz).unwrap(), None).unwrap();
    let e = classes(&l, None, &tgz, None).unwrap_err().to_string();
    assert!(
        e.contains("d.tar.gz") && e.contains("`train/c` is empty"),
        "{e}"
    );
    std::fs::remove_dir(root.join("train/c")).unwrap();
    std::fs::remove_dir(root.join("test/c")).unwrap();
    // a folder outside the fixed list
    let l = scan(&find(&root).unwrap(), None).unwrap();
    let e = classes(&l, Some(&names(&["a"])), &root, None)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("class folder `b` is not in the class list"),
        "{e}"
    );
    // an image of another size
    write_png(&root.join("train/b/zz.png"), 3, 5, 4, 9);
    let cls = names(&["a", "b"]);
    let e = load(&find(&root).unwrap(), &cls, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("zz.png") && e.contains("image is 4x5"), "{e}");
    // an undecodable image
    std::fs::write(root.join("train/b/zz.png"), b"not a png").unwrap();
    let e = load(&find(&root).unwrap(), &cls, None)
        .unwrap_err()
        .to_string();
    assert!(e.contains("zz.png: cannot decode"), "{e}");
    // no test folder
    std::fs::remove_dir_all(root.join("test")).unwrap();
    let e = scan(&find(&root).unwrap(), None).unwrap_err().to_string();
    assert!(e.contains("no `test/` folder"), "{e}");
}

fn want(name: &str) -> Want<'_> {
    Want {
        name,
        known: super::super::registry::known(name),
        classes: None,
    }
}

#[test]
fn probe_finds_folders_and_archives_beside_the_name_with_content_digests() {
    let root = tempfile::tempdir().unwrap();
    let w = want("pics");
    assert!(
        ImageFolder
            .probe(&root.path().join("pics"), &w)
            .unwrap()
            .is_none()
    );
    write_image_folder(&root.path().join("pics"), &["dog", "cat"], 3, 6, 5, 3);
    let l = ImageFolder
        .probe(&root.path().join("pics"), &w)
        .unwrap()
        .unwrap();
    assert_eq!(l.classes, vec!["cat", "dog"]);
    assert_eq!(l.state, "checked (layout; no official digest)");
    let (tr, te) = ImageFolder.load(&l).unwrap();
    assert_eq!((tr.len(), te.len()), (6, 4));
    // the same images as an archive next to the folder name
    let other = tempfile::tempdir().unwrap();
    let tgz = other.path().join("pics.tar.gz");
    tar_gz_dir(&root.path().join("pics"), &tgz, true);
    let la = ImageFolder
        .probe(&other.path().join("pics"), &w)
        .unwrap()
        .unwrap();
    assert_eq!(la.path.as_deref(), Some(tgz.as_path()));
    assert_eq!(la.classes, l.classes);
    assert_eq!(ImageFolder.load(&la).unwrap().0, tr);
    // a changed image changes the digest of a folder
    write_png(&root.path().join("pics/train/cat/0.png"), 3, 6, 5, 77);
    let l2 = ImageFolder
        .probe(&root.path().join("pics"), &w)
        .unwrap()
        .unwrap();
    assert_ne!(l2.id.digest, l.id.digest);
    // class names from the spec fix the order and go into the digest
    let fixed = names(&["dog", "cat"]);
    let wf = Want {
        classes: Some(&fixed),
        ..w
    };
    let lf = ImageFolder
        .probe(&root.path().join("pics"), &wf)
        .unwrap()
        .unwrap();
    assert_eq!(lf.classes, fixed);
    assert_ne!(lf.id.digest, l2.id.digest);
}

#[test]
fn real_cifar10_jpeg_archive_verifies_and_lists_every_class() {
    let Some(l) = real_data("cifar10-jpeg") else {
        return;
    };
    assert_eq!(l.state, "verified (known md5)");
    assert_eq!(l.classes[0], "airplane");
    assert_eq!(l.classes[9], "truck");
    assert!(l.id.approximate);
    // the archive's layout, listed without decoding
    let src = Source::Archive(path_of(&l).unwrap().to_path_buf());
    let listing = scan(&src, None).unwrap();
    assert_eq!(
        classes(&listing, None, src.path(), None).unwrap(),
        l.classes
    );
    assert!(listing.counts[0].values().all(|&n| n == 5000));
    assert!(listing.counts[1].values().all(|&n| n == 1000));
}

/// Decodes all 60000 JPEGs (several seconds).
#[test]
#[ignore]
fn real_cifar10_jpeg_decodes() {
    let t = std::time::Instant::now();
    let Some(ds) = real_dataset("cifar10-jpeg") else {
        return;
    };
    eprintln!("cifar10-jpeg: load {:.2} s", t.elapsed().as_secs_f64());
    assert_eq!(ds.train.class_counts(10), vec![5000; 10]);
    assert_eq!(ds.test.class_counts(10), vec![1000; 10]);
    assert_eq!(ds.train.channels, 3);
    let plane = 32 * 32;
    let mut sums = [0u64; 3];
    for i in 0..ds.train.len() {
        for (c, s) in sums.iter_mut().enumerate() {
            *s += ds.train.image(i)[c * plane..(c + 1) * plane]
                .iter()
                .map(|&p| p as u64)
                .sum::<u64>();
        }
    }
    let n = (ds.train.len() * plane) as f64;
    let means: Vec<f64> = sums.iter().map(|&s| s as f64 / n).collect();
    // the shared README's means (125.27, 122.93, 113.86) come from another
    // JPEG decoder; chroma upsampling differs by a few tenths
    for (m, want) in means.iter().zip([125.27, 122.93, 113.86]) {
        assert!((m - want).abs() < 0.5, "{means:?}");
    }
}

#[test]
fn links_out_of_the_dataset_folder_are_refused_links_within_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("linked");
    write_image_folder(&root, &["a", "b"], 1, 4, 4, 2);
    let outside = dir.path().join("secret.png");
    std::fs::copy(root.join("train/a/0.png"), &outside).unwrap();
    // a link inside the folder to a file inside it: fine
    std::os::unix::fs::symlink(root.join("train/a/1.png"), root.join("train/a/9.png")).unwrap();
    let src = find(&root).unwrap();
    assert_eq!(scan(&src, None).unwrap().counts[0]["a"], 3);
    // a link to a file outside: refused, naming both
    std::os::unix::fs::symlink(&outside, root.join("train/b/9.png")).unwrap();
    let e = scan(&src, None).unwrap_err().to_string();
    assert!(
        e.contains("train/b/9.png") && e.contains("secret.png"),
        "{e}"
    );
    assert!(e.contains("outside the dataset folder"), "{e}");
    std::fs::remove_file(root.join("train/b/9.png")).unwrap();
    // a class folder linked from elsewhere: refused too
    let elsewhere = dir.path().join("c");
    std::fs::create_dir_all(&elsewhere).unwrap();
    std::os::unix::fs::symlink(&elsewhere, root.join("test/c")).unwrap();
    let e = scan(&src, None).unwrap_err().to_string();
    assert!(e.contains("outside the dataset folder"), "{e}");
}

/// A tar entry whose name is written raw (the tar crate refuses `..` in
/// `set_path`, hostile archives need not).
fn raw_entry(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8]) {
    let mut h = tar::Header::new_old();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.set_entry_type(kind);
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    if kind == tar::EntryType::Symlink {
        h.set_link_name("/etc/passwd").unwrap();
    }
    h.set_cksum();
    b.append(&h, data).unwrap();
}

#[test]
fn hostile_archive_paths_stay_inside_the_archive() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("src");
    let expected = write_image_folder(&root, &["a", "b"], 1, 4, 4, 2);
    let png = std::fs::read(root.join("train/a/0.png")).unwrap();
    let mut b = tar::Builder::new(Vec::new());
    for (split, n, ext) in [("train", 2, "png"), ("test", 1, "jpg")] {
        for class in ["a", "b"] {
            for i in 0..n {
                let name = format!("{split}/{class}/{i}.{ext}");
                let data = std::fs::read(root.join(&name)).unwrap();
                raw_entry(&mut b, &name, tar::EntryType::Regular, &data);
            }
        }
    }
    // `..` and absolute names, and a link to a file outside: read as archive
    // members or skipped, never followed or written anywhere
    raw_entry(&mut b, "../../train/a/7.png", tar::EntryType::Regular, &png);
    raw_entry(&mut b, "/test/b/7.png", tar::EntryType::Regular, &png);
    raw_entry(&mut b, "train/b/8.png", tar::EntryType::Symlink, &[]);
    let bytes = b.into_inner().unwrap();
    let tar_path = dir.path().join("hostile.tar");
    std::fs::write(&tar_path, bytes).unwrap();
    let before: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    let src = find(&tar_path).unwrap();
    let listing = scan(&src, None).unwrap();
    assert_eq!(listing.counts[0]["a"], 3, "{:?}", listing.counts);
    assert_eq!(
        listing.counts[0]["b"], 2,
        "the link is skipped: {:?}",
        listing.counts
    );
    assert_eq!(listing.counts[1]["b"], 2, "{:?}", listing.counts);
    let cls = classes(&listing, None, &tar_path, None).unwrap();
    let (tr, _) = load(&src, &cls, None).unwrap();
    assert_eq!(tr.len(), 5);
    assert_eq!(tr.image(0), &expected["train/a/0.png"][..]);
    let after: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(before, after, "nothing was written");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
    /// Any bytes as a `.tar` or `.tar.gz` dataset: a listing or an error,
    /// never a panic.
    #[test]
    fn any_archive_bytes_scan_or_fail_cleanly(
        bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..3000),
        gz in proptest::bool::ANY,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(if gz { "x.tar.gz" } else { "x.tar" });
        let mut data = if gz { vec![0x1f, 0x8b] } else { Vec::new() };
        data.extend(bytes);
        std::fs::write(&path, data).unwrap();
        if let Some(src) = find(&path) {
            let _ = scan(&src, None);
        }
    }
}
