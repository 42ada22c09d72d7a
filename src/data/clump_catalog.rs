//! A real clump catalogue as an evaluation-only set: `gzh-s82-clumps/clumps.csv` (92 SDSS
//! Stripe 82 galaxies from Galaxy Zoo: Hubble with 543 catalogued giant clumps; one row per
//! clump: galaxy `id`, `redshift`, `image`, approximate pixel position `x_px_approx`,
//! `y_px_approx` in the 424-pixel Galaxy Zoo cutout). Galaxies are returned in catalogue order
//! with their clump positions rescaled to the network's `size x size` input (the cutout is
//! resized whole, as [`catalog::load_image`] does). Never train or tune on it.

use super::catalog::{self, CatalogError, ImageOptions};
use crate::csv_line::record_line;
use crate::geom::Point;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The catalogue file inside the set's folder.
pub const FILE: &str = "clumps.csv";

/// One galaxy of the real set.
#[derive(Debug, Clone, PartialEq)]
pub struct RealGalaxy {
    pub id: String,
    pub redshift: f32,
    /// SDSS Petrosian r-band R90 (arcsec): the cutout spans 424 x 0.02 R90 arcsec.
    pub r90_arcsec: f32,
    pub image: PathBuf,
    /// Catalogued clump positions in the original cutout's pixels.
    pub clumps: Vec<Point>,
}

/// The galaxies of the catalogue in `folder`, in order of first appearance.
pub fn read(folder: &Path) -> Result<Vec<RealGalaxy>, CatalogError> {
    let path = folder.join(FILE);
    let shown = path.display().to_string();
    if !path.is_file() {
        return Err(CatalogError::Missing { path: shown });
    }
    // read whole, so that record lines can be told exactly (`csv_line`)
    let bytes = std::fs::read(&path).map_err(|e| CatalogError::Read {
        path: shown.clone(),
        msg: e.to_string(),
    })?;
    let mut rdr = csv::Reader::from_reader(&bytes[..]);
    let header = rdr
        .headers()
        .map_err(|e| CatalogError::Read {
            path: shown.clone(),
            msg: e.to_string(),
        })?
        .clone();
    let col = |name: &'static str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| CatalogError::Column {
                path: shown.clone(),
                column: name.into(),
                key: "clump catalogue",
                available: header.iter().collect::<Vec<_>>().join(", "),
            })
    };
    let (c_id, c_z, c_r90, c_img, c_x, c_y) = (
        col("id")?,
        col("redshift")?,
        col("PETROR90_R")?,
        col("image")?,
        col("x_px_approx")?,
        col("y_px_approx")?,
    );
    let mut out: Vec<RealGalaxy> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for (i, rec) in rdr.records().enumerate() {
        let line = |p: Option<&csv::Position>| p.map_or(i as u64 + 2, |p| record_line(&bytes, p));
        let rec = rec.map_err(|e| CatalogError::Row {
            path: shown.clone(),
            row: line(e.position()).to_string(),
            msg: e.to_string(),
        })?;
        let row = line(rec.position()).to_string();
        let num = |c: usize, name: &str| -> Result<f32, CatalogError> {
            let cell = rec.get(c).unwrap_or("");
            cell.trim()
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| CatalogError::Row {
                    path: shown.clone(),
                    row: row.clone(),
                    msg: format!("column `{name}` = `{cell}`; expected a finite number"),
                })
        };
        let id = rec.get(c_id).unwrap_or("").to_string();
        let at = Point::new(num(c_x, "x_px_approx")?, num(c_y, "y_px_approx")?);
        let k = match index.get(&id) {
            Some(&k) => k,
            None => {
                index.insert(id.clone(), out.len());
                out.push(RealGalaxy {
                    id: id.clone(),
                    redshift: num(c_z, "redshift")?,
                    r90_arcsec: num(c_r90, "PETROR90_R")?,
                    image: folder.join(rec.get(c_img).unwrap_or("")),
                    clumps: Vec::new(),
                });
                out.len() - 1
            }
        };
        out[k].clumps.push(at);
    }
    Ok(out)
}

/// The images of `galaxies` as network input (`3 x size x size` each, concatenated) and their
/// clump positions in the network's pixels: the central `1 / zoom` of each cutout (zoom >= 1),
/// resized to `size`. Clumps outside the crop are dropped.
pub fn load(
    galaxies: &[RealGalaxy],
    size: usize,
    zoom: f64,
) -> Result<(Vec<f32>, Vec<Vec<Point>>), CatalogError> {
    use rayon::prelude::*;
    let loaded: Vec<(Vec<f32>, Vec<Point>)> = galaxies
        .par_iter()
        .map(|g| {
            let (w, h) = image::image_dimensions(&g.image).map_err(|e| CatalogError::Read {
                path: g.image.display().to_string(),
                msg: format!("{e}; expected a readable JPEG or PNG cutout"),
            })?;
            let crop = ((w.min(h) as f64 / zoom.max(1.0)).round() as u32).max(1);
            let (ox, oy) = ((w - crop) / 2, (h - crop) / 2);
            let s = size as f32 / crop as f32;
            let pts = g
                .clumps
                .iter()
                .map(|p| Point::new((p.x - ox as f32) * s, (p.y - oy as f32) * s))
                .filter(|p| (0.0..size as f32).contains(&p.x) && (0.0..size as f32).contains(&p.y))
                .collect();
            let opt = ImageOptions {
                size,
                centre_crop: Some(crop),
                fits_hdu: None,
                // FITS only; the real set is JPEG
                stretch: crate::spec::Stretch::Linear {
                    lo_percentile: 0.0,
                    hi_percentile: 100.0,
                },
            };
            Ok((catalog::load_image(&g.image, &opt)?, pts))
        })
        .collect::<Result<_, CatalogError>>()?;
    let mut images = Vec::with_capacity(galaxies.len() * 3 * size * size);
    let mut clumps = Vec::with_capacity(galaxies.len());
    for (img, pts) in loaded {
        images.extend(img);
        clumps.push(pts);
    }
    Ok((images, clumps))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_group_by_galaxy_and_bad_cells_name_the_row() {
        let dir = std::env::temp_dir().join(format!("gzb-clumpcat-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let head = "id,redshift,PETROR90_R,x_px_approx,y_px_approx,image\n";
        std::fs::write(
            dir.join(FILE),
            format!("{head}7,0.05,9,10,20,a.jpg\n7,0.05,9,30,40,a.jpg\n9,0.1,8,1,2,b.jpg\n"),
        )
        .unwrap();
        let g = read(&dir).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0].clumps,
            vec![Point::new(10.0, 20.0), Point::new(30.0, 40.0)]
        );
        assert_eq!(g[1].id, "9");
        assert_eq!(g[1].image, dir.join("b.jpg"));
        std::fs::write(dir.join(FILE), format!("{head}7,0.05,9,ten,20,a.jpg\n")).unwrap();
        let e = read(&dir).unwrap_err().to_string();
        assert!(e.contains(":2:") && e.contains("x_px_approx"), "{e}");
        std::fs::write(dir.join(FILE), "id,redshift,PETROR90_R,image\n").unwrap();
        let e = read(&dir).unwrap_err().to_string();
        assert!(
            e.contains("x_px_approx") && e.contains("id, redshift, PETROR90_R, image"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn the_real_set_reads_when_present() {
        let Some(folder) = crate::shared_data::require_or_skip(&format!("gzh-s82-clumps/{FILE}"))
            .and_then(|f| f.parent().map(Path::to_path_buf))
        else {
            return;
        };
        let g = read(&folder).unwrap();
        assert_eq!(g.len(), 92);
        assert_eq!(g.iter().map(|g| g.clumps.len()).sum::<usize>(), 543);
        let (img, pts) = load(&g[..2], 64, 1.0).unwrap();
        assert_eq!(img.len(), 2 * 3 * 64 * 64);
        // positions rescaled from the 424-pixel cutout stay inside the image
        assert!(pts.iter().flatten().all(|p| (0.0..64.0).contains(&p.x)));
        assert_eq!(pts[0].len(), g[0].clumps.len());
        // the central half, twice as large: a clump at (x, y) moves to 2 (x - 106) * 64 / 424
        let (_, zoomed) = load(&g[..1], 64, 2.0).unwrap();
        let p = g[0].clumps[0];
        let want = ((p.x - 106.0) * 64.0 / 212.0, (p.y - 106.0) * 64.0 / 212.0);
        assert!((zoomed[0][0].x - want.0).abs() < 1e-3 && (zoomed[0][0].y - want.1).abs() < 1e-3);
    }

    /// Found by `tests/fuzz_readers`: rows were numbered by record, so after a blank line
    /// the error named the line before the bad one.
    #[test]
    fn bad_cell_after_a_blank_line_names_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let head = "id,redshift,PETROR90_R,x_px_approx,y_px_approx,image\n";
        let body = "7,0.05,9,10,20,a.jpg\n\n7,0.05,9,ten,40,a.jpg\n";
        std::fs::write(dir.path().join(FILE), format!("{head}{body}")).unwrap();
        let e = read(dir.path()).unwrap_err().to_string();
        let want = format!(
            "{}:4: column `x_px_approx`",
            dir.path().join(FILE).display()
        );
        assert!(e.starts_with(&want), "{e}");
    }
}
