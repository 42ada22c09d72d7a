//! FITS cutouts: reading the image HDUs of the simple FITS subset astronomers' cutouts use
//! (2-D images and cubes of 1 or 3 bands, any standard BITPIX, BSCALE / BZERO / BLANK) and
//! stretching them to display range 0..1. Resizing and catalogues are not this module's concern.

pub use crate::spec::Stretch;
use std::path::Path;

const BLOCK: usize = 2880;
const CARD: usize = 80;

/// An image read from one FITS HDU, in physical units (BSCALE / BZERO applied; BLANK is NaN).
///
/// `data[(b * height + y) * width + x]`: band-major, then row-major. FITS stores the bottom row
/// of an image first; rows are flipped on reading so that row 0 is the top, as in PNGs.
#[derive(Debug, Clone, PartialEq)]
pub struct FitsImage {
    /// 1, or 3 for a cube of three bands (in the file's order).
    pub bands: usize,
    /// NAXIS2.
    pub height: usize,
    /// NAXIS1.
    pub width: usize,
    /// `bands * height * width` values; NaN where the file has BLANK (or NaN).
    pub data: Vec<f32>,
}

/// Why a FITS file could not be read. The first field is always the file's path, and every
/// message names it and says what was expected.
#[derive(Debug, thiserror::Error)]
pub enum FitsError {
    /// The file could not be read at all.
    #[error("{0}: cannot read: {1}")]
    Io(String, #[source] std::io::Error),
    /// The file does not start with a `SIMPLE = T` card.
    #[error("{0}: not a FITS file: the first card must be SIMPLE = T")]
    NotFits(String),
    /// The file ends inside a header (no END card) or before the data the header describes.
    #[error("{0}: truncated: {1}")]
    Truncated(String, String),
    /// Path, HDU number, problem: a required keyword missing or invalid, a bad BITPIX, ...
    #[error("{0}: bad header in HDU {1}: {2}")]
    BadHeader(String, usize, String),
    /// Path, what was asked for, and a list of the HDUs the file has.
    #[error("{0}: {1}; the file has: {2}")]
    NotFound(String, String, String),
    /// The chosen HDU is not an image of a supported shape.
    #[error("{0}: {1}")]
    Unsupported(String, String),
}

/// A header card's value.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Logical(bool),
    Int(i64),
    Float(f64),
    Other,
}

/// Parses the text after `= `: a quoted string ('' is a quote), T / F, an integer or a float
/// (`D` exponents allowed); anything after `/` is a comment.
fn parse_value(text: &str) -> Value {
    let text = text.trim_start();
    if let Some(rest) = text.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = rest.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '\'' {
                out.push(c);
            } else if chars.next_if_eq(&'\'').is_some() {
                out.push('\'');
            } else {
                break;
            }
        }
        return Value::Str(out.trim_end().to_string());
    }
    match text.split('/').next().unwrap_or("").trim() {
        "T" => Value::Logical(true),
        "F" => Value::Logical(false),
        v => match v.parse::<i64>() {
            Ok(i) => Value::Int(i),
            Err(_) => v
                .replace(['D', 'd'], "E")
                .parse()
                .map_or(Value::Other, Value::Float),
        },
    }
}

/// One header-and-data unit, located but not decoded.
struct Hdu {
    index: usize,
    /// `PRIMARY`, or the XTENSION value (`IMAGE`, `BINTABLE`, ...).
    kind: String,
    name: Option<String>,
    cards: Vec<(String, Value)>,
    bitpix: i64,
    axes: Vec<usize>,
    /// Byte offset and length (unpadded) of the data.
    start: usize,
    len: usize,
}

impl Hdu {
    fn get(&self, key: &str) -> Option<&Value> {
        find(&self.cards, key)
    }

    fn float(&self, key: &str) -> Option<f64> {
        match self.get(key)? {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    fn has_data(&self) -> bool {
        !self.axes.is_empty() && self.axes.iter().all(|&n| n > 0)
    }

    fn is_image(&self) -> bool {
        self.index == 0 || self.kind == "IMAGE"
    }

    fn describe(&self) -> String {
        let name = self
            .name
            .as_ref()
            .map(|n| format!(" `{n}`"))
            .unwrap_or_default();
        let empty = if self.has_data() { "" } else { " (no data)" };
        format!("{}{name}{empty}", self.kind)
    }

    /// What is missing, if the file ends before this HDU's data does.
    fn truncation(&self, file_len: usize) -> Option<String> {
        let have = file_len.saturating_sub(self.start);
        (have < self.len).then(|| {
            let dims: Vec<String> = self.axes.iter().map(|n| n.to_string()).collect();
            let bits = self.bitpix.unsigned_abs();
            let ty = if self.bitpix < 0 { format!("{bits}-bit float") } else { format!("{bits}-bit") };
            let dims = dims.join(" x ");
            format!("header says {dims} x {ty} data ({} bytes) but the file ends after {have} bytes of it", self.len)
        })
    }
}

fn find<'a>(cards: &'a [(String, Value)], key: &str) -> Option<&'a Value> {
    cards.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// Locates every HDU. Stops at trailing bytes that are not an extension, or after an HDU whose
/// data runs past the end of the file (that HDU is kept; see [`Hdu::truncation`]).
fn scan(bytes: &[u8], p: &str) -> Result<Vec<Hdu>, FitsError> {
    let mut hdus = Vec::new();
    let mut off = 0;
    while off < bytes.len() || hdus.is_empty() {
        let index = hdus.len();
        let mut cards = Vec::new();
        let mut pos = off;
        let end = loop {
            let card: Option<&[u8; CARD]> =
                bytes.get(pos..pos + CARD).and_then(|c| c.try_into().ok());
            let Some(card) = card else {
                return match (index, pos == off) {
                    (0, true) => Err(FitsError::NotFits(p.into())),
                    (_, true) => Ok(hdus),
                    _ => {
                        let n = bytes.len();
                        let what = format!(
                            "the header of HDU {index} has no END card (the file ends after {n} bytes)"
                        );
                        Err(FitsError::Truncated(p.into(), what))
                    }
                };
            };
            let key = String::from_utf8_lossy(&card[..8]).trim_end().to_string();
            let value =
                (&card[8..10] == b"= ").then(|| parse_value(&String::from_utf8_lossy(&card[10..])));
            let simple = key == "SIMPLE" && value == Some(Value::Logical(true));
            match (pos == off, index) {
                (true, 0) if !simple => return Err(FitsError::NotFits(p.into())),
                (true, 1..) if key != "XTENSION" => return Ok(hdus),
                _ => {}
            }
            if key == "END" {
                break pos + CARD;
            }
            if let Some(value) = value {
                cards.push((key, value));
            }
            pos += CARD;
        };
        let bad = |what: String| FitsError::BadHeader(p.into(), index, what);
        let int = |key: &str| match find(&cards, key) {
            Some(Value::Int(i)) => Ok(*i),
            Some(_) => Err(bad(format!("{key} is not an integer"))),
            None => Err(bad(format!("missing {key}"))),
        };
        let count = |key: &str, default: usize| match find(&cards, key) {
            None => Ok(default),
            Some(Value::Int(i)) if *i >= 0 => {
                usize::try_from(*i).map_err(|_| bad(format!("{key} = {i} is too large")))
            }
            Some(_) => Err(bad(format!("{key} must be a non-negative integer"))),
        };
        let bitpix = int("BITPIX")?;
        if ![8, 16, 32, 64, -32, -64].contains(&bitpix) {
            return Err(bad(format!(
                "BITPIX = {bitpix} unsupported; expected 8, 16, 32, 64, -32 or -64"
            )));
        }
        let naxis = int("NAXIS")?;
        if !(0..=999).contains(&naxis) {
            return Err(bad(format!("NAXIS = {naxis} is not in 0..=999")));
        }
        let axis = |i: i64| {
            let n = int(&format!("NAXIS{i}"))?;
            usize::try_from(n).map_err(|_| bad(format!("NAXIS{i} = {n} is negative")))
        };
        let axes = (1..=naxis).map(axis).collect::<Result<Vec<_>, _>>()?;
        let (pcount, gcount) = (count("PCOUNT", 0)?, count("GCOUNT", 1)?);
        // Random groups (NAXIS1 = 0, GROUPS = T) leave NAXIS1 out of the product.
        let groups = index == 0
            && axes.first() == Some(&0)
            && find(&cards, "GROUPS") == Some(&Value::Logical(true));
        let counted = axes.get(usize::from(groups)..).unwrap_or(&[]);
        // The product of no axes is no data, not 1.
        let product = counted
            .iter()
            .try_fold(usize::from(!counted.is_empty()), |a, &n| a.checked_mul(n));
        let len = product
            .and_then(|n| n.checked_add(pcount))
            .and_then(|n| n.checked_mul(gcount))
            .and_then(|n| n.checked_mul(bitpix.unsigned_abs() as usize / 8))
            .ok_or_else(|| bad("data size overflows".into()))?;
        let start = off + (end - off).div_ceil(BLOCK) * BLOCK;
        let text = |key| match find(&cards, key) {
            Some(Value::Str(s)) => Some(s.trim().to_string()),
            _ => None,
        };
        let kind = match index {
            0 => "PRIMARY".to_string(),
            _ => text("XTENSION").map_or("UNKNOWN".into(), |s| s.to_ascii_uppercase()),
        };
        let name = text("EXTNAME");
        hdus.push(Hdu {
            index,
            kind,
            name,
            cards,
            bitpix,
            axes,
            start,
            len,
        });
        let data_end = start.saturating_add(len);
        if data_end > bytes.len() {
            break;
        }
        off = data_end.saturating_add((BLOCK - len % BLOCK) % BLOCK);
    }
    Ok(hdus)
}

/// Reads one image HDU of a FITS file: the primary HDU when `hdu` is `None` (or, if it has no
/// data, the first IMAGE extension that does), else the extension whose EXTNAME equals `hdu`
/// (case-insensitive, trimmed), or the HDU numbered `hdu` ("0" is the primary).
pub fn read_fits(path: &Path, hdu: Option<&str>) -> Result<FitsImage, FitsError> {
    let p = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| FitsError::Io(p.clone(), e))?;
    parse(&bytes, &p, hdu)
}

fn parse(bytes: &[u8], p: &str, hdu: Option<&str>) -> Result<FitsImage, FitsError> {
    let hdus = scan(bytes, p)?;
    let wanted = hdu.map(str::trim);
    let index = wanted.and_then(|w| w.parse::<usize>().ok());
    let found = match (wanted, index) {
        (None, _) => hdus
            .iter()
            .find(|h| h.index == 0 && h.has_data())
            .or_else(|| {
                hdus.iter()
                    .find(|h| h.index > 0 && h.is_image() && h.has_data())
            }),
        (_, Some(i)) => hdus.get(i),
        (Some(w), None) => hdus.iter().find(|h| match &h.name {
            Some(name) => name.eq_ignore_ascii_case(w),
            None => h.index == 0 && w.eq_ignore_ascii_case("PRIMARY"),
        }),
    };
    let truncated = |h: &Hdu| {
        h.truncation(bytes.len())
            .map(|what| FitsError::Truncated(p.into(), what))
    };
    let Some(h) = found else {
        if let Some(e) = hdus.last().and_then(truncated) {
            return Err(e);
        }
        let wanted = match (wanted, index) {
            (None, _) => {
                "no image data: the primary HDU is empty and no IMAGE extension has data".into()
            }
            (_, Some(i)) => format!("no HDU number {i}"),
            (Some(w), None) => format!("no extension named `{w}`"),
        };
        let available: Vec<String> = hdus.iter().map(Hdu::describe).collect();
        return Err(FitsError::NotFound(p.into(), wanted, available.join(", ")));
    };
    let unsupported = |what: String| FitsError::Unsupported(p.into(), what);
    if !h.is_image() {
        return Err(unsupported(format!(
            "HDU {} ({}) is not an image",
            h.index,
            h.describe()
        )));
    }
    if let Some(e) = truncated(h) {
        return Err(e);
    }
    let (width, height, bands) = match h.axes[..] {
        [w, ht] => (w, ht, 1),
        [w, ht, b @ (1 | 3)] => (w, ht, b),
        [_, _, b] => {
            return Err(unsupported(format!(
                "NAXIS3 = {b} unsupported; expected a cube of 1 or 3 bands"
            )));
        }
        _ => {
            let n = h.axes.len();
            return Err(unsupported(format!(
                "NAXIS = {n} unsupported; expected a 2-D image or a cube of 1 or 3 bands"
            )));
        }
    };
    let n = width.saturating_mul(height).saturating_mul(bands);
    if n == 0 {
        return Err(unsupported(format!(
            "HDU {} is an empty image ({width} x {height})",
            h.index
        )));
    }
    let bpp = (h.bitpix.unsigned_abs() / 8) as usize;
    let raw = bytes
        .get(h.start..)
        .and_then(|r| r.get(..n.saturating_mul(bpp)));
    let raw = raw.ok_or_else(|| unsupported(format!("HDU {} data is cut short", h.index)))?;
    let scale = h.float("BSCALE").unwrap_or(1.0);
    let zero = h.float("BZERO").unwrap_or(0.0);
    let blank = match h.get("BLANK") {
        Some(Value::Int(b)) if h.bitpix > 0 => Some(*b),
        _ => None,
    };
    let int = |r: i64| {
        if Some(r) == blank {
            f64::NAN
        } else {
            zero + scale * r as f64
        }
    };
    let values: Vec<f32> = raw
        .chunks_exact(bpp)
        .map(|c| {
            (match h.bitpix {
                8 => int(i64::from(u8::from_be_bytes(be(c)))),
                16 => int(i16::from_be_bytes(be(c)).into()),
                32 => int(i32::from_be_bytes(be(c)).into()),
                64 => int(i64::from_be_bytes(be(c))),
                -32 => zero + scale * f64::from(f32::from_be_bytes(be(c))),
                _ => zero + scale * f64::from_be_bytes(be(c)),
            }) as f32
        })
        .collect();
    let mut data = Vec::with_capacity(n);
    for band in values.chunks(width * height) {
        for row in band.chunks(width).rev() {
            data.extend_from_slice(row);
        }
    }
    Ok(FitsImage {
        bands,
        height,
        width,
        data,
    })
}

fn be<const N: usize>(c: &[u8]) -> [u8; N] {
    c.try_into().unwrap_or([0; N])
}

/// Stretches every band of `img` to 0..1 (see [`Stretch`]), keeping its layout. NaN pixels map to
/// 0, and a band whose `hi == lo` (constant, or without finite pixels) maps to all zeros. Errs on
/// percentiles outside 0..=100 or not `lo < hi`, a softening that is not positive, or an image
/// whose `data` does not hold `bands * height * width` values.
pub fn stretch(img: &FitsImage, s: &Stretch) -> Result<Vec<f32>, String> {
    let (lo_p, hi_p, soft) = match *s {
        Stretch::Linear {
            lo_percentile,
            hi_percentile,
        } => (lo_percentile, hi_percentile, None),
        Stretch::Asinh {
            lo_percentile,
            hi_percentile,
            softening,
        } => (lo_percentile, hi_percentile, Some(softening)),
    };
    let range = 0.0..=100.0;
    if !(range.contains(&lo_p) && range.contains(&hi_p) && lo_p < hi_p) {
        return Err(format!(
            "stretch percentiles must satisfy 0 <= lo_percentile < hi_percentile <= 100; got {lo_p} and {hi_p}"
        ));
    }
    if let Some(s) = soft
        && !(s > 0.0 && s.is_finite())
    {
        return Err(format!(
            "asinh softening must be a positive number; got {s}"
        ));
    }
    let plane = img.height.saturating_mul(img.width);
    if img.bands.checked_mul(plane) != Some(img.data.len()) {
        let (b, h, w, n) = (img.bands, img.height, img.width, img.data.len());
        return Err(format!("image of {b} x {h} x {w} has {n} values"));
    }
    let mut out = Vec::with_capacity(img.data.len());
    for band in img.data.chunks(plane.max(1)) {
        let mut sorted: Vec<f64> = band
            .iter()
            .filter(|v| v.is_finite())
            .map(|&v| f64::from(v))
            .collect();
        sorted.sort_by(f64::total_cmp);
        let (lo, hi) = (percentile(&sorted, lo_p), percentile(&sorted, hi_p));
        for &v in band {
            let x = if v.is_nan() || hi <= lo {
                0.0
            } else {
                ((f64::from(v) - lo) / (hi - lo)).clamp(0.0, 1.0)
            };
            out.push(match soft {
                None => x as f32,
                Some(s) => ((x / s).asinh() / (1.0 / s).asinh()) as f32,
            });
        }
    }
    Ok(out)
}

/// The `p`th percentile (0..=100) of sorted values, interpolating linearly; 0 when empty.
fn percentile(sorted: &[f64], p: f64) -> f64 {
    let rank = p / 100.0 * sorted.len().saturating_sub(1) as f64;
    let i = rank.floor() as usize;
    let a = sorted.get(i).copied().unwrap_or(0.0);
    let b = sorted.get(i + 1).copied().unwrap_or(a);
    a + (b - a) * (rank - i as f64)
}

#[cfg(test)]
mod tests;
