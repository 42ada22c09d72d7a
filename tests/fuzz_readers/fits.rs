//! The FITS reader (`data::fits::read_fits`, `stretch`): valid files of every supported shape
//! mutated card by card (a card deleted, duplicated, swapped, its value replaced, its keyword
//! renamed) and byte by byte, headers generated from the keywords the reader knows with random
//! values, and arbitrary bytes. Errors must name the file (and a bad header its HDU); an image
//! that reads must hold `bands x height x width` values that stretch into 0..1.

use crate::mutate::{Records, Shown, apply, mutations, value};
use crate::{Scratch, config};
use gzbench::data::fits::{FitsError, Stretch, read_fits, stretch};
use proptest::prelude::*;
use std::path::Path;
use std::sync::LazyLock;

/// One 80-byte card.
pub fn card(text: &str) -> String {
    format!("{text:<80}")
}

/// A `KEY     = value` card.
fn kv(key: &str, value: &str) -> String {
    card(&format!("{key:<8}= {value:>20}"))
}

/// One header-and-data unit: its cards (END added) and data, each padded to 2880 bytes.
fn hdu(cards: &[String], data: &[u8]) -> Vec<u8> {
    let mut b = cards.concat().into_bytes();
    b.extend_from_slice(card("END").as_bytes());
    b.resize(b.len().div_ceil(2880) * 2880, b' ');
    let start = b.len();
    b.extend_from_slice(data);
    b.resize(start + data.len().div_ceil(2880) * 2880, 0);
    b
}

fn primary(bitpix: i64, axes: &[usize]) -> Vec<String> {
    let mut c = vec![
        kv("SIMPLE", "T"),
        kv("BITPIX", &bitpix.to_string()),
        kv("NAXIS", &axes.len().to_string()),
    ];
    for (i, n) in axes.iter().enumerate() {
        c.push(kv(&format!("NAXIS{}", i + 1), &n.to_string()));
    }
    c
}

/// Valid FITS files: a 2-D float image, a 3-band 16-bit cube with BSCALE / BZERO / BLANK, an
/// empty primary HDU before a named 8-bit IMAGE extension and a BINTABLE, 64-bit integer and
/// float images.
pub static SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let f32s: Vec<u8> = (0..12)
        .flat_map(|i| (i as f32 * 0.5 - 1.0).to_be_bytes())
        .collect();
    let mut cube = primary(16, &[3, 2, 3]);
    cube.extend([
        kv("BSCALE", "2.5"),
        kv("BZERO", "32768"),
        kv("BLANK", "-32768"),
        card("COMMENT a cube of three bands"),
    ]);
    let i16s: Vec<u8> = (0..18)
        .flat_map(|i: i16| (i * 1000 - 9000).to_be_bytes())
        .collect();
    let mut ext = vec![
        kv("XTENSION", "'IMAGE   '"),
        kv("BITPIX", "8"),
        kv("NAXIS", "2"),
        kv("NAXIS1", "2"),
        kv("NAXIS2", "2"),
        kv("PCOUNT", "0"),
        kv("GCOUNT", "1"),
        kv("EXTNAME", "'SCI'"),
    ];
    let table = vec![
        kv("XTENSION", "'BINTABLE'"),
        kv("BITPIX", "8"),
        kv("NAXIS", "2"),
        kv("NAXIS1", "4"),
        kv("NAXIS2", "2"),
        kv("PCOUNT", "0"),
        kv("GCOUNT", "1"),
        kv("EXTNAME", "'CAT'"),
    ];
    let with_ext = [
        hdu(&primary(8, &[]), &[]),
        hdu(&ext, &[1, 2, 3, 250]),
        hdu(&table, &[7; 8]),
    ]
    .concat();
    ext[1] = kv("BITPIX", "-64");
    let i64s: Vec<u8> = (0..4).flat_map(|i: i64| (i << 40).to_be_bytes()).collect();
    let f64s: Vec<u8> = [1.0f64, f64::NAN, -3.0, 1e300]
        .iter()
        .flat_map(|v| v.to_be_bytes())
        .collect();
    vec![
        hdu(&primary(-32, &[4, 3]), &f32s),
        hdu(&cube, &i16s),
        with_ext,
        hdu(&primary(64, &[2, 2]), &i64s),
        [hdu(&primary(16, &[]), &[]), hdu(&ext, &f64s)].concat(),
    ]
});

fn hdu_choice() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        3 => prop::sample::select(vec!["0", "1", "2", "3", "SCI", " sci ", "PRIMARY", "CAT", "-1"])
            .prop_map(|s| Some(s.to_string())),
        1 => "[ -~]{0,8}".prop_map(Some),
    ]
}

/// Reads `bytes` as `path` and checks the error, or the image and its stretch.
fn read_checked(path: &Path, hdu: Option<&str>) -> Result<(), String> {
    let shown = path.display().to_string();
    match read_fits(path, hdu) {
        Err(e) => {
            let msg = e.to_string();
            if !msg.starts_with(&format!("{shown}: ")) {
                return Err(format!("error does not start with the file: {msg}"));
            }
            if matches!(e, FitsError::BadHeader(..)) && !msg.contains(" HDU ") {
                return Err(format!("header error does not name the HDU: {msg}"));
            }
        }
        Ok(img) => {
            if img.data.len() != img.bands * img.height * img.width || ![1, 3].contains(&img.bands)
            {
                return Err(format!(
                    "image of {} x {} x {} holds {} values",
                    img.bands,
                    img.height,
                    img.width,
                    img.data.len()
                ));
            }
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
                let v = stretch(&img, &s).map_err(|e| format!("stretch of a read image: {e}"))?;
                if v.len() != img.data.len() || v.iter().any(|x| !(0.0..=1.0).contains(x)) {
                    return Err("stretched values outside 0..1".into());
                }
            }
        }
    }
    Ok(())
}

/// A header of cards the reader interprets, with random values, and random data after it.
fn header() -> impl Strategy<Value = Vec<u8>> {
    let keys = prop::sample::select(vec![
        "SIMPLE", "BITPIX", "NAXIS", "NAXIS1", "NAXIS2", "NAXIS3", "BSCALE", "BZERO", "BLANK",
        "XTENSION", "EXTNAME", "PCOUNT", "GCOUNT", "GROUPS", "END", "COMMENT",
    ]);
    let number = prop_oneof![
        prop::sample::select(vec![
            "T",
            "F",
            "8",
            "16",
            "32",
            "64",
            "-32",
            "-64",
            "0",
            "1",
            "2",
            "3",
            "'IMAGE'",
            "'BINTABLE'",
            "'SCI'",
            "999",
            "1000",
            "-1"
        ])
        .prop_map(String::from),
        value(),
    ];
    let line = (keys, number).prop_map(|(k, v)| kv(k, &v));
    (
        prop::collection::vec(line, 0..14),
        any::<bool>(),
        prop::collection::vec(any::<u8>(), 0..400),
    )
        .prop_map(|(cards, simple, data)| {
            let mut c = if simple {
                vec![kv("SIMPLE", "T")]
            } else {
                vec![]
            };
            c.extend(cards);
            [hdu(&c, &[]), data].concat()
        })
}

proptest! {
    #![proptest_config(config(400))]

    #[test]
    fn fuzz_fits_mutated(
        seed in prop::sample::select((0..SEEDS.len()).collect::<Vec<_>>()),
        muts in mutations(),
        which in hdu_choice(),
    ) {
        let dir = Scratch::new("fits");
        let bytes = apply(&SEEDS[seed], &muts, Records::Fixed(80));
        let path = dir.write("cut.fits", &bytes);
        let r = read_checked(&path, which.as_deref());
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }

    #[test]
    fn fuzz_fits_generated_headers(bytes in header(), which in hdu_choice()) {
        let dir = Scratch::new("fits-header");
        let path = dir.write("gen.fits", &bytes);
        let r = read_checked(&path, which.as_deref());
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }

    #[test]
    fn fuzz_fits_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..6000)) {
        let dir = Scratch::new("fits-bytes");
        let path = dir.write("any.fits", &bytes);
        let r = read_checked(&path, None);
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }
}

#[test]
fn fuzz_fits_seeds_read() {
    let dir = Scratch::new("fits-seeds");
    for (i, seed) in SEEDS.iter().enumerate() {
        let path = dir.write(&format!("seed{i}.fits"), seed);
        let img = read_fits(&path, None).unwrap_or_else(|e| panic!("seed {i}: {e}"));
        assert!(img.data.len() >= 4, "seed {i}");
    }
}
