//! libFuzzer target `image`: bytes as the image file a catalogue references, through
//! `data::catalog::load_image` (the first bytes pick the extension, `.png`, `.jpg` or `.fits`,
//! the network size and the centre crop). Errors must name the image file; an image that loads
//! is `3 x size x size` values in 0..1.
#![no_main]

use gzbench::data::catalog::{CatalogError, ImageOptions, load_image};
use gzbench::spec::Stretch;
use gzbench_fuzz::scratch;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [ext, size, crop, body @ ..] = data else {
        return;
    };
    let ext = ["png", "jpg", "jpeg", "fits", "FIT"][*ext as usize % 5];
    let size = 1 + *size as usize % 16;
    let opt = ImageOptions {
        size,
        centre_crop: (crop & 0x80 != 0).then_some(u32::from(crop & 0x1f)),
        fits_hdu: None,
        stretch: Stretch::Asinh {
            lo_percentile: 0.5,
            hi_percentile: 99.5,
            softening: 0.1,
        },
    };
    let path = scratch(&format!("img.{ext}"), body);
    match load_image(&path, &opt) {
        Err(CatalogError::Read { path: p, .. }) if p == path.display().to_string() => {}
        Err(e) => panic!("image error does not name {}: {e}", path.display()),
        Ok(v) => {
            assert_eq!(v.len(), 3 * size * size);
            assert!(
                v.iter().all(|x| (0.0..=1.0).contains(x)),
                "values outside 0..1"
            );
        }
    }
});
