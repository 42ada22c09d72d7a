//! Tests of the parent module.
use super::*;

/// Big-endian bytes of a list of numbers (all of one type).
macro_rules! be {
    ($($x:expr),*) => { [$($x.to_be_bytes()),*].concat() };
}

/// Test-only FITS writer: one HDU of `KEY = value` cards, END, and data, each padded.
fn hdu(cards: &[(&str, String)], data: &[u8]) -> Vec<u8> {
    let pad = |v: &mut Vec<u8>, n: usize, b: u8| v.resize(v.len().div_ceil(n) * n, b);
    let mut out = Vec::new();
    for (k, v) in cards {
        out.extend(format!("{k:<8}= {v:>20} / comment").bytes());
        pad(&mut out, CARD, b' ');
    }
    out.extend(format!("{:<80}", "END").bytes());
    pad(&mut out, BLOCK, b' ');
    out.extend_from_slice(data);
    pad(&mut out, BLOCK, 0);
    out
}

/// An image HDU: the primary when `ext` is None, else an IMAGE extension named `ext`.
fn image(ext: Option<&str>, bitpix: i64, axes: &[usize], data: &[u8]) -> Vec<u8> {
    image_with(ext, bitpix, axes, &[], data)
}

fn image_with(
    ext: Option<&str>,
    bitpix: i64,
    axes: &[usize],
    extra: &[(&str, &str)],
    data: &[u8],
) -> Vec<u8> {
    let first = ext.map_or(("SIMPLE", "T".into()), |_| ("XTENSION", "'IMAGE'".into()));
    let mut cards = vec![
        first,
        ("BITPIX", bitpix.to_string()),
        ("NAXIS", axes.len().to_string()),
    ];
    cards.extend(
        axes.iter()
            .zip(["NAXIS1", "NAXIS2", "NAXIS3", "NAXIS4"])
            .map(|(n, k)| (k, n.to_string())),
    );
    if let Some(name) = ext {
        cards.extend([
            ("PCOUNT", "0".into()),
            ("GCOUNT", "1".into()),
            ("EXTNAME", format!("'{name}'")),
        ]);
    }
    cards.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
    hdu(&cards, data)
}

/// A BINTABLE of 360 rows of 8 bytes plus a 5-byte heap: 2885 bytes, two blocks padded.
fn bintable() -> Vec<u8> {
    let cards =
        "XTENSION='BINTABLE' BITPIX=8 NAXIS=2 NAXIS1=8 NAXIS2=360 PCOUNT=5 GCOUNT=1 EXTNAME='CAT'";
    let cards: Vec<_> = cards
        .split(' ')
        .filter_map(|c| c.split_once('='))
        .map(|(k, v)| (k, v.into()))
        .collect();
    hdu(&cards, &[7; 2885])
}

fn read(bytes: &[u8], h: Option<&str>) -> Result<FitsImage, FitsError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cut.fits");
    std::fs::write(&path, bytes).unwrap();
    read_fits(&path, h)
}

/// Asserts that reading fails with a message that names the file and contains `want`.
fn fails(bytes: &[u8], h: Option<&str>, want: &str) {
    let e = read(bytes, h).unwrap_err().to_string();
    assert!(e.contains("cut.fits: ") && e.contains(want), "{e}");
}

#[test]
fn card_values_parse() {
    assert_eq!(
        parse_value(" 'O''Brien '  / who"),
        Value::Str("O'Brien".into())
    );
    assert_eq!(parse_value("  T / yes"), Value::Logical(true));
    assert_eq!(parse_value(" -42 "), Value::Int(-42));
    assert_eq!(parse_value(" 1.5D2 / d exponent"), Value::Float(150.0));
    assert_eq!(parse_value(" 2.5E-1"), Value::Float(0.25));
}

#[test]
fn every_bitpix_round_trips_with_bscale_bzero() {
    // BITPIX, raw data, BSCALE, BZERO, expected values.
    let cases = [
        (8, vec![200u8, 0], "0.5", "-10", [90.0f32, -10.0]),
        (16, be![100i16, -3i16], "2", "10", [210.0, 4.0]),
        (32, be![-7i32, 5i32], "3", "1", [-20.0, 16.0]),
        (
            64,
            be![1i64 << 40, -1i64],
            "1",
            "0",
            [1099511627776.0, -1.0],
        ),
        (-32, be![1.5f32, -2f32], "2", "1", [4.0, -3.0]),
        (-64, be![0.25f64, 1f64], "4.0D0", "-1", [0.0, 3.0]),
    ];
    for (bitpix, data, bscale, bzero, want) in cases {
        let scaling = [("BSCALE", bscale), ("BZERO", bzero)];
        let img = read(&image_with(None, bitpix, &[2, 1], &scaling, &data), None).unwrap();
        assert_eq!((img.bands, img.height, img.width), (1, 1, 2));
        assert_eq!(img.data, want, "BITPIX {bitpix}");
    }
}

#[test]
fn blank_becomes_nan_and_rows_flip_to_top_first() {
    // FITS rows bottom-up: [1 2 3] then [4 5 BLANK]; row 0 of the result is the top.
    let data = be![1i16, 2i16, 3i16, 4i16, 5i16, -99i16];
    let img = read(
        &image_with(None, 16, &[3, 2], &[("BLANK", "-99")], &data),
        None,
    )
    .unwrap();
    assert_eq!((img.height, img.width), (2, 3));
    assert_eq!(
        (img.data[0], img.data[1], &img.data[3..]),
        (4.0, 5.0, &[1.0, 2.0, 3.0][..])
    );
    assert!(img.data[2].is_nan());
}

#[test]
fn three_band_cube_is_band_major() {
    let img = read(&image(None, 8, &[1, 2, 3], &[1, 2, 3, 4, 5, 6]), None).unwrap();
    assert_eq!((img.bands, img.height, img.width), (3, 2, 1));
    assert_eq!(img.data, [2.0, 1.0, 4.0, 3.0, 6.0, 5.0]);
}

#[test]
fn extensions_by_name_index_and_auto() {
    let (r, g) = (
        image(Some("R"), 8, &[1, 1], &[11]),
        image(Some("G"), 8, &[1, 1], &[22]),
    );
    let file = [image(None, 8, &[], &[]), bintable(), r, g].concat();
    let first = |h| read(&file, h).unwrap().data[0];
    assert_eq!(
        (first(Some(" g ")), first(Some("r")), first(Some("3"))),
        (22.0, 11.0, 22.0)
    );
    assert_eq!(
        first(None),
        11.0,
        "first IMAGE extension when the primary is empty"
    );
    fails(&file, Some("1"), "HDU 1 (BINTABLE `CAT`) is not an image");
    let have = "the file has: PRIMARY (no data), BINTABLE `CAT`, IMAGE `R`, IMAGE `G`";
    fails(
        &file,
        Some("SCI"),
        &format!("no extension named `SCI`; {have}"),
    );
    fails(&file, Some("9"), "no HDU number 9");
    fails(&image(None, 8, &[], &[]), None, "no image data");
}

#[test]
fn errors_name_the_file_and_the_problem() {
    fails(
        b"hello",
        None,
        "not a FITS file: the first card must be SIMPLE = T",
    );
    let valid = image(None, 16, &[4, 4], &[0; 32]);
    let want = "truncated: header says 4 x 4 x 16-bit data (32 bytes) but the file ends after 10";
    fails(&valid[..BLOCK + 10], None, want);
    fails(
        &valid[..CARD * 4],
        None,
        "truncated: the header of HDU 0 has no END card",
    );
    let want = "NAXIS = 4 unsupported; expected a 2-D image or a cube of 1 or 3 bands";
    fails(&image(None, 8, &[1, 1, 1, 1], &[0]), None, want);
    fails(
        &image(None, 8, &[1, 1, 2], &[0, 0]),
        None,
        "NAXIS3 = 2 unsupported",
    );
    let want = "BITPIX = 12 unsupported; expected 8, 16, 32, 64, -32 or -64";
    fails(&image(None, 12, &[1, 1], &[0]), None, want);
}

#[test]
fn truncated_or_corrupted_bytes_never_panic() {
    let r = image(Some("R"), -32, &[3, 2], &[0x41; 24]);
    let file = [image(None, 8, &[], &[]), bintable(), r].concat();
    for len in 0..file.len() {
        let complete = len >= file.len() - BLOCK + 24;
        assert_eq!(
            parse(&file[..len], "x", Some("R")).is_ok(),
            complete,
            "length {len}"
        );
        let _ = parse(&file[..len], "x", None);
    }
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |n: usize| {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize % n
    };
    for _ in 0..3000 {
        let mut bad = file.clone();
        for _ in 0..1 + next(4) {
            // Half the flips land in one of the three headers.
            let header = next(BLOCK) + BLOCK * [0, 1, 4][next(3)];
            let at = if next(2) == 0 {
                next(bad.len())
            } else {
                header
            };
            bad[at] = next(256) as u8;
        }
        if let Ok(img) = parse(&bad, "x", None) {
            let _ = stretch(&img, &asinh(1.0, 99.0, 0.1));
        }
    }
}

fn linear(lo_percentile: f64, hi_percentile: f64) -> Stretch {
    Stretch::Linear {
        lo_percentile,
        hi_percentile,
    }
}

fn asinh(lo_percentile: f64, hi_percentile: f64, softening: f64) -> Stretch {
    Stretch::Asinh {
        lo_percentile,
        hi_percentile,
        softening,
    }
}

fn row(data: Vec<f32>) -> FitsImage {
    FitsImage {
        bands: 1,
        height: 1,
        width: data.len(),
        data,
    }
}

#[test]
fn percentiles_interpolate_like_numpy() {
    let v: Vec<f64> = (0..=100).map(f64::from).collect();
    assert_eq!(
        [0.5, 99.5, 100.0].map(|p| percentile(&v, p)),
        [0.5, 99.5, 100.0]
    );
    assert_eq!(percentile(&[1.0, 3.0], 25.0), 1.5);
}

#[test]
fn linear_maps_percentile_range_to_unit() {
    let out = stretch(
        &row((0..=100).map(|v| v as f32).collect()),
        &linear(0.5, 99.5),
    )
    .unwrap();
    assert_eq!((out[0], out[100]), (0.0, 1.0));
    assert!((out[50] - 0.5).abs() < 1e-6 && (out[10] - 9.5 / 99.0).abs() < 1e-6);
}

#[test]
fn asinh_endpoints_and_monotone() {
    let out = stretch(
        &row((0..=50).map(|v| v as f32).collect()),
        &asinh(0.0, 100.0, 0.1),
    )
    .unwrap();
    assert_eq!((out[0], out[50]), (0.0, 1.0));
    assert!(out.windows(2).all(|w| w[0] < w[1]));
    let lifted = 1f64.asinh() / 10f64.asinh(); // x = 0.1
    assert!((f64::from(out[5]) - lifted).abs() < 1e-6, "{}", out[5]);
}

#[test]
fn nan_and_constant_images_give_zeros() {
    let out = stretch(
        &row(vec![f32::NAN, 0.0, f32::INFINITY, 10.0]),
        &linear(0.0, 100.0),
    );
    assert_eq!(out.unwrap(), [0.0, 0.0, 1.0, 1.0]);
    assert_eq!(
        stretch(&row(vec![3.0; 5]), &asinh(0.5, 99.5, 0.1)).unwrap(),
        [0.0; 5]
    );
    assert_eq!(
        stretch(&row(vec![f32::NAN; 2]), &linear(1.0, 2.0)).unwrap(),
        [0.0; 2]
    );
}

#[test]
fn invalid_stretch_params_are_rejected() {
    let one = row(vec![1.0]);
    for s in [
        linear(-1.0, 50.0),
        linear(50.0, 100.5),
        linear(60.0, 40.0),
        linear(f64::NAN, 1.0),
    ] {
        assert!(
            stretch(&one, &s)
                .unwrap_err()
                .contains("percentiles must satisfy")
        );
    }
    assert!(
        stretch(&one, &asinh(0.5, 99.5, 0.0))
            .unwrap_err()
            .contains("softening")
    );
    assert!(stretch(&FitsImage { bands: 2, ..one }, &linear(1.0, 2.0)).is_err());
}

#[test]
fn stretch_serde_defaults() {
    let s: Stretch = serde_json::from_str(r#"{"kind": "asinh", "softening": 0.2}"#).unwrap();
    assert_eq!(s, asinh(0.5, 99.5, 0.2));
    let s: Stretch = serde_json::from_str(r#"{"kind": "linear"}"#).unwrap();
    assert_eq!(s, linear(0.5, 99.5));
    assert!(serde_json::from_str::<Stretch>(r#"{"kind": "linear", "softening": 1}"#).is_err());
}
