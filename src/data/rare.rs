//! What the `rare:` arms of a `synthetic` run draw from the universe besides its splits: the
//! galaxies of the training split, in the order of [`super::build`]'s `train` (their Galaxy Zoo
//! answers condition the diffusion model), and fresh positives past the training pool (the
//! `oracle` arm's extra images; the real reference sets of the Fréchet distance).

use super::synthetic::{self, Draw};
use super::{DataError, Dataset, TRAIN_OFFSET, hold_out_indices, memo, val_count};
use crate::spec::{DataSource, RunSpec};
use crate::universe::{Galaxy, TreeLink};

fn draw(spec: &RunSpec, positive_fraction: Option<f64>) -> Result<Draw, DataError> {
    let d = &spec.data;
    if d.source != DataSource::Synthetic {
        return Err(DataError::Target {
            target: crate::spec::yaml_name(&spec.task.target),
            data_source: crate::spec::yaml_name(&d.source),
            expected: "rare: draws from data.source `synthetic` only".into(),
        });
    }
    Ok(Draw {
        seed: d.data_seed,
        size: d.image_size,
        survey: d.survey,
        target: spec.task.target,
        positive_fraction,
    })
}

/// The galaxies of the run's training split, in the order of `build(spec).train`.
pub fn train_galaxies(spec: &RunSpec) -> Result<Vec<Galaxy>, DataError> {
    let d = &spec.data;
    let pool = synthetic::select(
        &draw(spec, d.positive_fraction)?,
        super::id_starts(spec.seed).1,
        d.train_size,
    )?;
    let k = val_count(d);
    if k == 0 {
        return Ok(pool);
    }
    let (rest, _) = hold_out_indices(pool.len(), k, spec.seed, "data/validation-split");
    Ok(rest.into_iter().map(|i| pool[i].clone()).collect())
}

/// `n` positives of the run's target that no split of the run holds: reference set `set`
/// (0, 1, ...) starts a quarter of the id range between training pools after the previous one.
pub fn fresh_positives(spec: &RunSpec, n: usize, set: u64) -> Result<Dataset, DataError> {
    let d = &spec.data;
    let start = super::id_starts(spec.seed).1 + TRAIN_OFFSET / 4 * (1 + set.min(2));
    let key = format!(
        "rare positives {} {} {:?} {:?} {start} {n}",
        d.data_seed, d.image_size, d.survey, spec.task.target
    );
    let dr = draw(spec, Some(1.0))?;
    memo::get(key, || synthetic::generate(&dr, start, n))
}

/// The condition vector of each galaxy: its 37 Galaxy Zoo 2 answers as the Kaggle targets (the
/// weighted vote fractions of a simulated crowd of 40, stream `data/gz2/votes` of the data
/// seed), and the answer column names.
pub fn gz2_conditions(spec: &RunSpec, galaxies: &[Galaxy]) -> (Vec<String>, Vec<Vec<f32>>) {
    use rayon::prelude::*;
    let tree = crate::tree::Tree::gz2();
    let link = TreeLink::new(&tree).expect("the GZ2 tree is linked");
    let seed = spec.data.data_seed;
    let rows = galaxies
        .par_iter()
        .map(|g| synthetic::gz2_targets(g, seed, &tree, &link))
        .collect();
    (tree.answer_columns(), rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> RunSpec {
        let yaml = "name: r\nkind: train\ndata:\n  source: synthetic\n  image_size: 16\n  \
                    train_size: 40\n  test_size: 10\n  positive_fraction: 0.25\ntask:\n  \
                    target: featured\nrare:\n  extra: 4\n";
        let e = crate::spec::parse_str(yaml, "r.yaml").unwrap();
        crate::spec::expand(&e, yaml, "r.yaml").unwrap().remove(0)
    }

    #[test]
    fn train_galaxies_are_the_training_split_in_order() {
        let s = spec();
        let splits = super::super::build(&s).unwrap();
        let g = train_galaxies(&s).unwrap();
        assert_eq!(g.len(), splits.train.len());
        let draw = draw(&s, None).unwrap();
        assert_eq!(synthetic::dataset(&draw, &g).images, splits.train.images);
        let (names, rows) = gz2_conditions(&s, &g);
        assert_eq!((names.len(), rows.len()), (37, g.len()));
        assert!(rows.iter().flatten().all(|v| (0.0..=1.0).contains(v)));
    }

    #[test]
    fn fresh_positives_are_positive_and_new() {
        let s = spec();
        let p = fresh_positives(&s, 6, 0).unwrap();
        assert_eq!(p.targets, vec![1.0; 6]);
        let q = fresh_positives(&s, 6, 1).unwrap();
        assert_ne!(p.images, q.images);
        let splits = super::super::build(&s).unwrap();
        let l = p.image_len();
        for img in p.images.chunks(l) {
            assert!(!splits.train.images.chunks(l).any(|t| t == img));
        }
    }
}
