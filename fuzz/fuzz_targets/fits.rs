//! libFuzzer target `fits`: bytes as a FITS file through `data::fits::read_fits` (the first
//! byte picks the HDU asked for) and `stretch`. Errors must name the file (a bad header also
//! its HDU); an image that reads holds `bands x height x width` values that stretch into 0..1.
#![no_main]

use gzbench::data::fits::{FitsError, Stretch, read_fits, stretch};
use gzbench_fuzz::{assert_names, scratch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, body)) = data.split_first() else {
        return;
    };
    let hdu = [
        None,
        Some("0"),
        Some("1"),
        Some("2"),
        Some("SCI"),
        Some("PRIMARY"),
    ][pick as usize % 6];
    let path = scratch("cut.fits", body);
    match read_fits(&path, hdu) {
        Err(e) => {
            let msg = e.to_string();
            assert_names(&msg, &path);
            if matches!(e, FitsError::BadHeader(..)) {
                assert!(msg.contains(" HDU "), "header error without its HDU: {msg}");
            }
        }
        Ok(img) => {
            assert_eq!(img.data.len(), img.bands * img.height * img.width);
            assert!([1, 3].contains(&img.bands));
            for s in [
                Stretch::Linear {
                    lo_percentile: 0.0,
                    hi_percentile: 100.0,
                },
                Stretch::Asinh {
                    lo_percentile: 0.5,
                    hi_percentile: 99.5,
                    softening: 0.1,
                },
            ] {
                let v = stretch(&img, &s).expect("a read image stretches");
                assert!(
                    v.iter().all(|x| (0.0..=1.0).contains(x)),
                    "stretched outside 0..1"
                );
            }
        }
    }
});
