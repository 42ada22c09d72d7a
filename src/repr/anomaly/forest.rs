//! Isolation forest (Liu, Ting & Zhou 2008): anomalies are few and different, so random
//! axis-aligned splits isolate them in fewer steps than ordinary rows.
//!
//! ```text
//! each tree t (its own stream rng::item_stream(seed, "repr/isolation-forest", t)):
//!     psi = min(sample, n) rows drawn without replacement
//!     split recursively until a node holds <= 1 row or depth = ceil(log2 psi):
//!         attribute q uniform among the node's non-constant attributes
//!         threshold p uniform in [min q, max q);  left: x_q < p, right: x_q >= p
//! h(x) = depth of the leaf x falls in + c(rows of that leaf)      (unbuilt subtree's expectation)
//! score(x) = 2^(-mean_t h_t(x) / c(psi)),  c(m) = 2 H(m-1) - 2 (m-1)/m,  H(i) ~ ln i + 0.5772..
//! ```
//! with `c(2) = 1` and `c(m <= 1) = 0`, as in the paper (and scikit-learn). Scores near 1 are
//! anomalies; rows well inside the data score below 0.5.
//!
//! Why not the `extended-isolation-forest` crate: it draws from `rand::thread_rng()` (no seed)
//! and fixes the dimension at compile time (`[T; N]`), so it can be neither reproducible from our
//! named streams nor fed embeddings of a run-time width. The forest is short enough to own.
//! A node with every attribute constant (identical rows) becomes a leaf; the paper draws the
//! attribute among all, which only wastes a level on a constant one.

use anyhow::{Result, ensure};
use rand::Rng;
use rand::seq::index::sample;
use rayon::prelude::*;

const STREAM: &str = "repr/isolation-forest";
const EULER_GAMMA: f64 = 0.577_215_664_901_532_9;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Leaf {
        size: usize,
    },
    Split {
        attr: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
}

/// A fitted isolation forest: one flat node list per tree (node 0 is the root).
#[derive(Debug, Clone, PartialEq)]
pub struct IsolationForest {
    trees: Vec<Vec<Node>>,
    /// Rows per tree (`min(sample, n)`), whose `c` normalises the path length.
    pub psi: usize,
    /// Features per row.
    pub d: usize,
}

/// Average path length of an unsuccessful search in a binary search tree of `m` rows.
pub fn c(m: usize) -> f64 {
    match m {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let m = m as f64;
            2.0 * ((m - 1.0).ln() + EULER_GAMMA) - 2.0 * (m - 1.0) / m
        }
    }
}

impl IsolationForest {
    /// Grows `n_trees` trees of `min(sample, n)` rows each (100 and 256 in the paper); tree `t`
    /// draws only from `rng::item_stream(seed, "repr/isolation-forest", t)`, so the trees are
    /// built in parallel with the same result on any number of threads.
    pub fn fit(x: &[Vec<f32>], n_trees: usize, sample_size: usize, seed: u64) -> Result<Self> {
        let d = super::check_rows(x, "isolation forest")?;
        ensure!(n_trees >= 1, "isolation forest: needs at least one tree");
        ensure!(
            sample_size >= 2 && x.len() >= 2,
            "isolation forest: needs samples of at least 2 rows (sample {sample_size}, {} rows)",
            x.len()
        );
        let psi = sample_size.min(x.len());
        let limit = (psi as f64).log2().ceil() as usize;
        let trees = (0..n_trees)
            .into_par_iter()
            .map(|t| {
                let mut rng = crate::rng::item_stream(seed, STREAM, t as u64);
                let rows = sample(&mut rng, x.len(), psi).into_vec();
                let mut nodes = Vec::with_capacity(2 * psi);
                grow(x, rows, 0, limit, &mut rng, &mut nodes);
                nodes
            })
            .collect();
        Ok(IsolationForest { trees, psi, d })
    }

    /// Anomaly score `2^(-E[h(x)] / c(psi))` of every row of `x` (in (0, 1]; higher = more
    /// anomalous), rows in parallel.
    pub fn score(&self, x: &[Vec<f32>]) -> Result<Vec<f64>> {
        let d = super::check_rows(x, "isolation forest score")?;
        ensure!(
            d == self.d,
            "isolation forest: fitted on {} features, scoring rows of {d}",
            self.d
        );
        let norm = c(self.psi) * self.trees.len() as f64;
        Ok(x.par_iter()
            .map(|r| {
                let total: f64 = self.trees.iter().map(|t| path_length(t, r)).sum();
                2f64.powf(-total / norm)
            })
            .collect())
    }

    /// Number of trees.
    pub fn len(&self) -> usize {
        self.trees.len()
    }

    pub fn is_empty(&self) -> bool {
        self.trees.is_empty()
    }
}

/// Appends the subtree of `rows` to `nodes`; returns its index.
fn grow(
    x: &[Vec<f32>],
    rows: Vec<usize>,
    depth: usize,
    limit: usize,
    rng: &mut impl Rng,
    nodes: &mut Vec<Node>,
) -> usize {
    let at = nodes.len();
    nodes.push(Node::Leaf { size: rows.len() });
    if rows.len() <= 1 || depth >= limit {
        return at;
    }
    let d = x[rows[0]].len();
    let ranges: Vec<(usize, f32, f32)> = (0..d)
        .filter_map(|a| {
            let (lo, hi) = rows
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(l, h), &i| {
                    (l.min(x[i][a]), h.max(x[i][a]))
                });
            (hi > lo).then_some((a, lo, hi))
        })
        .collect();
    if ranges.is_empty() {
        return at;
    }
    let (attr, lo, hi) = ranges[rng.random_range(0..ranges.len())];
    let (lo, hi) = (f64::from(lo), f64::from(hi));
    let threshold = (lo + rng.random::<f64>() * (hi - lo)).min(hi);
    let (l, r): (Vec<usize>, Vec<usize>) = rows
        .into_iter()
        .partition(|&i| f64::from(x[i][attr]) < threshold);
    let left = grow(x, l, depth + 1, limit, rng, nodes);
    let right = grow(x, r, depth + 1, limit, rng, nodes);
    nodes[at] = Node::Split {
        attr,
        threshold,
        left,
        right,
    };
    at
}

/// Path length of `row` in one tree: edges to its leaf plus `c(leaf size)`.
fn path_length(nodes: &[Node], row: &[f32]) -> f64 {
    let (mut at, mut depth) = (0, 0.0);
    loop {
        match nodes[at] {
            Node::Leaf { size } => return depth + c(size),
            Node::Split {
                attr,
                threshold,
                left,
                right,
            } => {
                at = if f64::from(row[attr]) < threshold {
                    left
                } else {
                    right
                };
                depth += 1.0;
            }
        }
    }
}
