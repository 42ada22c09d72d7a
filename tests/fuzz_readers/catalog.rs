//! The catalogue source: catalogue rows (`data::catalog::read_catalogue` on CSV and Parquet,
//! for binary labels, classes, GZ DECaLS vote counts and GZ2 vote fractions), the images a
//! catalogue references (`check_files`, `load`: random bytes and mutated PNG / JPEG / FITS files
//! under any of the image extensions), and the real clump catalogue (`data::clump_catalog`).
//! Errors must name the catalogue and the row's line (or the column / key at fault), or the
//! image file; images that load are `3 x size x size` values in 0..1.

use crate::mutate::{
    Records, Shown, apply, blank_lines, cell, mutations, with_blank_lines, with_cell,
};
use crate::{Scratch, config, n_lines};
use gzbench::data::catalog::{
    CatalogError, Entry, ImageOptions, Want, check_files, load, read_catalogue,
};
use gzbench::data::clump_catalog;
use gzbench::spec::{CatalogConfig, Stretch};
use gzbench::tree::Tree;
use proptest::prelude::*;
use proptest::sample::Index;
use std::path::Path;
use std::sync::LazyLock;

/// The catalogue shapes: (mapping, the targets to read, a valid catalogue).
struct Seed {
    cfg: CatalogConfig,
    want: fn(&CatalogConfig) -> Want<'_>,
    csv: String,
}

static DECALS: LazyLock<Tree> = LazyLock::new(Tree::decals);
static GZ2: LazyLock<Tree> = LazyLock::new(Tree::gz2);
static CLASSES: LazyLock<Vec<(String, Vec<String>)>> = LazyLock::new(|| {
    vec![
        ("elliptical".into(), vec!["0".into()]),
        ("spiral".into(), vec!["1".into(), "2".into()]),
    ]
});
static EXCLUDE: LazyLock<Vec<String>> = LazyLock::new(|| vec!["-1".into()]);

/// A vote table over every answer column of `tree`: `value(row, question, answer)`.
pub fn votes_csv(tree: &Tree, value: impl Fn(usize, usize, usize) -> String) -> String {
    let cols = tree.answer_columns();
    let mut s = format!("iauname,file,{}\n", cols.join(","));
    for (r, id) in ["a", "b", "c"].iter().enumerate() {
        let mut cells = vec![id.to_string(), format!("img/{id}.png")];
        for (q, range) in tree.question_slices().into_iter().enumerate() {
            cells.extend(range.enumerate().map(|(a, _)| value(r, q, a)));
        }
        s.push_str(&cells.join(","));
        s.push('\n');
    }
    s
}

static SEEDS: LazyLock<Vec<Seed>> = LazyLock::new(|| {
    let cfg = |y: &str| serde_yaml::from_str::<CatalogConfig>(y).expect("catalogue mapping");
    vec![
        Seed {
            cfg: cfg("{ file: cat.csv, file_column: file, label_column: ring }"),
            want: |c| Want::Label(c.label_column.as_deref().unwrap()),
            csv: "id,file,ring,redshift\na,img/a.png,1,0.05\nb,img/b.png,0,0.1\n\
                  c,img/c.png,yes,0.2\nd,img/d.png,false,0.3\n"
                .into(),
        },
        Seed {
            cfg: cfg(
                "{ file: cat.csv, id_column: objid, file_pattern: 'img/{id}.png', \
                      label_column: t, classes: { spiral: ['1', '2'], elliptical: ['0'] }, \
                      exclude: ['-1'] }",
            ),
            want: |_| Want::Class("t", &CLASSES, &EXCLUDE),
            csv: "objid,t\na,0\nb,2\nc,-1\nd,1\n".into(),
        },
        Seed {
            cfg: cfg("{ file: cat.csv, id_column: iauname, file_column: file, votes: decals }"),
            want: |_| Want::Votes(&DECALS),
            // votes on the first question only: every dependent question has none
            csv: votes_csv(&DECALS, |r, q, a| {
                if q == 0 {
                    (r * 3 + a + 1).to_string()
                } else {
                    "0".into()
                }
            }),
        },
        Seed {
            cfg: cfg("{ file: cat.csv, id_column: iauname, file_column: file }"),
            want: |_| Want::Fractions(&GZ2),
            csv: votes_csv(&GZ2, |r, q, a| {
                format!("{:.3}", ((r + q + a) % 4) as f64 / 4.0)
            }),
        },
        Seed {
            cfg: cfg("{ file: cat.csv, file_column: file }"),
            want: |_| Want::Nothing,
            csv: "id,file\na,img/a.png\nb,img/b.png\n".into(),
        },
    ]
});

/// A 12 x 12 RGB image encoded as PNG or JPEG.
fn encoded(format: image::ImageFormat, level: u8) -> Vec<u8> {
    let img = image::RgbImage::from_fn(12, 12, |x, y| {
        image::Rgb([level, (x * 20) as u8, (y * 20) as u8])
    });
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

static PNG: LazyLock<Vec<u8>> = LazyLock::new(|| encoded(image::ImageFormat::Png, 90));
static JPEG: LazyLock<Vec<u8>> = LazyLock::new(|| encoded(image::ImageFormat::Jpeg, 90));

/// Writes the valid images `img/{a,b,c,d}.png` next to a catalogue.
fn images(dir: &Scratch) {
    for id in ["a", "b", "c", "d"] {
        dir.write(&format!("img/{id}.png"), &PNG);
    }
}

fn opts(size: usize, centre_crop: Option<u32>, stretch: Stretch) -> ImageOptions {
    ImageOptions {
        size,
        centre_crop,
        fits_hdu: None,
        stretch,
    }
}

/// `Ok` if `e` names the catalogue `path` and, for a row, a line of its `lines` (CSV) or a row
/// (Parquet).
fn check_catalogue_error(e: &CatalogError, path: &Path, lines: usize) -> Result<(), String> {
    let shown = path.display().to_string();
    let ok = match e {
        CatalogError::Row { path: p, row, .. } => {
            p == &shown
                && match row.strip_prefix(" row ") {
                    Some(n) => n.parse::<usize>().is_ok_and(|n| n >= 1),
                    None => row
                        .parse::<usize>()
                        .is_ok_and(|n| (1..=lines.max(1)).contains(&n)),
                }
        }
        CatalogError::Column { path: p, .. } | CatalogError::MissingImages { path: p, .. } => {
            p == &shown
        }
        // a binary Parquet file has no lines; a CSV file only when it is empty or has no rows,
        // else the message names the line (the clump catalogue's `csv` crate errors)
        CatalogError::Read { path: p, msg } => {
            p == &shown
                && (shown.ends_with(".parquet")
                    || msg.starts_with("no data: empty CSV")
                    || msg.starts_with("no rows")
                    || names_line(msg, lines))
        }
        CatalogError::Missing { .. } | CatalogError::TooFew { .. } => false,
    };
    if ok {
        Ok(())
    } else {
        Err(format!("not located in {shown} ({lines} lines): {e}"))
    }
}

/// Whether `msg` says `line N` for a line `N` of the file's `lines`.
fn names_line(msg: &str, lines: usize) -> bool {
    msg.match_indices("line ").any(|(i, m)| {
        let digits: String = msg[i + m.len()..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits
            .parse::<usize>()
            .is_ok_and(|n| (1..=lines.max(1)).contains(&n))
    })
}

/// Reads the catalogue at `path` with seed `s`'s mapping; on success checks its image files and
/// loads the first two. Errors must be located.
fn read_checked(path: &Path, s: &Seed, lines: usize) -> Result<(), String> {
    let entries = match read_catalogue(path, None, &s.cfg, (s.want)(&s.cfg)) {
        Err(e) => return check_catalogue_error(&e, path, lines),
        Ok(entries) => entries,
    };
    if let Err(e) = check_files(path, &entries) {
        return check_catalogue_error(&e, path, lines);
    }
    let first: Vec<Entry> = entries.into_iter().take(2).collect();
    load(
        &first,
        &opts(
            4,
            None,
            Stretch::Linear {
                lo_percentile: 0.0,
                hi_percentile: 100.0,
            },
        ),
    )
    .map(|_| ())
    .map_err(|e| format!("valid images failed to load: {e}"))
}

/// The Parquet form of seed 0.
fn parquet(dir: &Scratch) -> Vec<u8> {
    use polars::prelude::*;
    let csv = dir.write("seed.csv", SEEDS[0].csv.as_bytes());
    let mut df = CsvReadOptions::default()
        .with_infer_schema_length(Some(0))
        .try_into_reader_with_file_path(Some(csv))
        .and_then(|r| r.finish())
        .expect("seed CSV");
    let mut out = Vec::new();
    ParquetWriter::new(&mut out)
        .finish(&mut df)
        .expect("parquet");
    out
}

static PARQUET: LazyLock<Vec<u8>> = LazyLock::new(|| parquet(&Scratch::new("parquet-seed")));

/// Bytes of an image file: random, or a mutated PNG, JPEG or FITS file.
fn image_bytes() -> impl Strategy<Value = Vec<u8>> {
    let seeds: Vec<Vec<u8>> = [PNG.clone(), JPEG.clone()]
        .into_iter()
        .chain(crate::fits::SEEDS.iter().cloned())
        .collect();
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..3000),
        1 => (prop::sample::select(seeds.clone()), mutations())
            .prop_map(|(s, m)| apply(&s, &m, Records::Lines)),
        1 => (prop::sample::select(seeds), mutations())
            .prop_map(|(s, m)| apply(&s, &m, Records::Fixed(80))),
    ]
}

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn fuzz_catalog_csv_mutated(seed in any::<Index>(), muts in mutations()) {
        let dir = Scratch::new("catalog");
        images(&dir);
        let s = &SEEDS[seed.index(SEEDS.len())];
        let bytes = apply(s.csv.as_bytes(), &muts, Records::Lines);
        let path = dir.write("cat.csv", &bytes);
        let r = read_checked(&path, s, n_lines(&bytes));
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }

    /// (Not fixed, upstream: some damaged data page headers make polars-parquet 0.55 allocate
    /// 2^61 bytes, which aborts the process, e.g. byte 54 of this file XOR 0x7b; the fixed
    /// seed's cases do not reach one.)
    #[test]
    fn fuzz_catalog_parquet_mutated(muts in mutations()) {
        let dir = Scratch::new("catalog-parquet");
        images(&dir);
        let bytes = apply(&PARQUET, &muts, Records::Lines);
        let path = dir.write("cat.parquet", &bytes);
        let r = read_checked(&path, &SEEDS[0], 0);
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }

    #[test]
    fn fuzz_catalog_arbitrary_bytes(
        seed in any::<Index>(),
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        parquet in any::<bool>(),
    ) {
        let dir = Scratch::new("catalog-bytes");
        images(&dir);
        let s = &SEEDS[seed.index(SEEDS.len())];
        let path = dir.write(if parquet { "cat.parquet" } else { "cat.csv" }, &bytes);
        let r = read_checked(&path, s, n_lines(&bytes));
        prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
    }

    #[test]
    fn fuzz_catalog_images(
        bytes in image_bytes(),
        ext in prop::sample::select(vec!["png", "jpg", "jpeg", "fits", "fit", "FTS", "PNG", "tif"]),
        size in 1usize..12,
        crop in prop_oneof![Just(None), (0u32..16).prop_map(Some)],
        asinh in any::<bool>(),
    ) {
        let dir = Scratch::new("catalog-images");
        let name = format!("img/x.{ext}");
        let image = dir.write(&name, &bytes);
        let csv = dir.write("cat.csv", format!("id,file,ring\nx,{name},1\n").as_bytes());
        let s = &SEEDS[0];
        let entries = read_catalogue(&csv, None, &s.cfg, (s.want)(&s.cfg)).expect("catalogue");
        check_files(&csv, &entries).expect("image present");
        let stretch = if asinh {
            Stretch::Asinh { lo_percentile: 1.0, hi_percentile: 99.0, softening: 0.05 }
        } else {
            Stretch::Linear { lo_percentile: 0.0, hi_percentile: 100.0 }
        };
        match load(&entries, &opts(size, crop, stretch)) {
            Err(e) => {
                let r = check_image_error(&e, &image);
                prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
            }
            Ok(d) => {
                prop_assert_eq!(d.images.len(), 3 * size * size);
                prop_assert!(d.images.iter().all(|v| (0.0..=1.0).contains(v)), "values outside 0..1");
            }
        }
    }
}

fn check_image_error(e: &CatalogError, image: &Path) -> Result<(), String> {
    match e {
        CatalogError::Read { path, .. } if path == &image.display().to_string() => Ok(()),
        _ => Err(format!(
            "image error does not name {}: {e}",
            image.display()
        )),
    }
}

/// A valid real clump catalogue: two galaxies, three clumps.
const CLUMPS: &str = "id,redshift,PETROR90_R,x_px_approx,y_px_approx,image\n\
                      7,0.05,9.5,4,6,a.jpg\n7,0.05,9.5,8,2,a.jpg\n9,0.1,8,1,2,b.png\n";

proptest! {
    #![proptest_config(config(300))]

    #[test]
    fn fuzz_clump_catalogue_mutated(
        muts in mutations(),
        image in prop_oneof![3 => Just(None), 1 => image_bytes().prop_map(Some)],
        zoom in prop_oneof![Just(1.0), Just(2.0), Just(0.5), Just(f64::NAN), Just(1e9)],
    ) {
        let dir = Scratch::new("clumps");
        let bytes = apply(CLUMPS.as_bytes(), &muts, Records::Lines);
        let path = dir.write(clump_catalog::FILE, &bytes);
        dir.write("a.jpg", image.as_deref().unwrap_or(&JPEG));
        dir.write("b.png", &PNG);
        let lines = n_lines(&bytes);
        match clump_catalog::read(dir.path()) {
            Err(e) => {
                let r = check_catalogue_error(&e, &path, lines);
                prop_assert!(r.is_ok(), "{}\ninput: {:?}", r.unwrap_err(), Shown(&bytes));
            }
            Ok(galaxies) => match clump_catalog::load(&galaxies, 8, zoom) {
                Err(e) => {
                    let named = galaxies.iter().any(|g| check_image_error(&e, &g.image).is_ok());
                    prop_assert!(named, "image error names no image: {e}\ninput: {:?}", Shown(&bytes));
                }
                Ok((imgs, pts)) => {
                    prop_assert_eq!(imgs.len(), galaxies.len() * 3 * 64);
                    prop_assert_eq!(pts.len(), galaxies.len());
                }
            },
        }
    }
}

proptest! {
    #![proptest_config(config(300))]

    /// One bad cell in a data line of a catalogue: the error names that line (a duplicate id
    /// names both), or, for an image file name, the missing file and its id.
    #[test]
    fn fuzz_catalog_bad_cell_names_its_line(
        seed in 0usize..2,
        line in any::<Index>(),
        col in 0usize..4,
        v in cell(),
    ) {
        let dir = Scratch::new("catalog-cell");
        images(&dir);
        let s = &SEEDS[seed];
        let line = 2 + line.index(s.csv.lines().count() - 1);
        let bad = with_cell(&s.csv, line, col, &v);
        let path = dir.write("cat.csv", bad.as_bytes());
        let names_it = |row: &str, msg: &str| row == line.to_string() || msg.contains(&format!("line {line}"));
        match read_catalogue(&path, None, &s.cfg, (s.want)(&s.cfg)) {
            Err(CatalogError::Row { row, msg, .. }) => {
                prop_assert!(names_it(&row, &msg), "line {} not named: {}:{}\ninput: {:?}", line, row, msg, Shown(bad.as_bytes()));
            }
            Err(e) => prop_assert!(false, "{}\ninput: {:?}", e, Shown(bad.as_bytes())),
            Ok(entries) => {
                if let Err(e) = check_files(&path, &entries) {
                    let ok = matches!(&e, CatalogError::MissingImages { count: 1, .. });
                    prop_assert!(ok, "{}\ninput: {:?}", e, Shown(bad.as_bytes()));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(200))]

    /// One bad number in the real clump catalogue, after blank lines or not: the error names
    /// that line.
    #[test]
    fn fuzz_clump_catalogue_bad_cell_names_its_line(
        line in 2usize..5,
        col in 0usize..6,
        v in cell(),
        blanks in blank_lines(),
    ) {
        let dir = Scratch::new("clumps-cell");
        let (bad, moved) = with_blank_lines(&with_cell(CLUMPS, line, col, &v), &blanks);
        let line = moved[line - 1];
        dir.write(clump_catalog::FILE, bad.as_bytes());
        if let Err(e) = clump_catalog::read(dir.path()) {
            let ok = matches!(&e, CatalogError::Row { row, .. } if *row == line.to_string());
            prop_assert!(ok, "line {} not named: {}\ninput: {:?}", line, e, Shown(bad.as_bytes()));
        }
    }
}
