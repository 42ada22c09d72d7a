//! Which runs of a sweep one process computes: all of them, one shard of the grid
//! (`--shard I/N`) or named run ids (`--run-id`), so a sweep can be spread over machines
//! (one Slurm array task per run, or N shards) that share one store.
//!
//! Shards go by a run's position in the planned grid order, never by what is complete: run `p`
//! (0-based) belongs to shard `p % N + 1`, so the N shards never overlap, together cover every
//! run, and keep their runs whatever the store holds. This module only filters; the claim that
//! makes concurrent processes compute each run once lives in the store.
//!
//! ```
//! use gzbench::runner::Select;
//! let shard: Select = "2/3".parse().unwrap();
//! let picked = shard.pick(vec!["a", "b", "c", "d", "e"], |s| s.to_string()).unwrap();
//! assert_eq!(picked, ["b", "e"]);
//! ```

use std::str::FromStr;

/// The runs a process computes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Select {
    /// Every run of the grid.
    #[default]
    All,
    /// Runs whose 0-based grid position `p` has `p % count == index - 1` (`index` is 1-based).
    Shard { index: usize, count: usize },
    /// Only these run ids (each must be a run of the grid).
    Ids(Vec<String>),
}

/// A selection that does not fit the experiment or a malformed `--shard`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectError {
    #[error("shard {given:?}: expected I/N with whole numbers 1 <= I <= N, e.g. --shard 2/8")]
    BadShard { given: String },
    #[error(
        "--run-id {}: not a run of this experiment at this profile and device; `gzbench slurm \
         FILE --profile P --device D --dry-run` lists its run ids (and which are complete), \
         `gzbench runs --experiment NAME` the runs in the store",
        unknown.join(", ")
    )]
    UnknownIds { unknown: Vec<String> },
}

impl FromStr for Select {
    type Err = SelectError;

    /// Parse `I/N` (a shard).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || SelectError::BadShard {
            given: s.to_string(),
        };
        let (i, n) = s.split_once('/').ok_or_else(bad)?;
        let index: usize = i.trim().parse().map_err(|_| bad())?;
        let count: usize = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Select::Shard { index, count })
    }
}

impl Select {
    /// The selected items of `items` (in grid order), `id` naming each. Ids given twice count
    /// once; an id that names no item is an error listing every such id.
    pub fn pick<T>(&self, items: Vec<T>, id: impl Fn(&T) -> String) -> Result<Vec<T>, SelectError> {
        match self {
            Select::All => Ok(items),
            Select::Shard { index, count } => Ok(items
                .into_iter()
                .enumerate()
                .filter(|(p, _)| p % count == index - 1)
                .map(|(_, t)| t)
                .collect()),
            Select::Ids(wanted) => {
                let ids: Vec<String> = items.iter().map(&id).collect();
                let mut unknown: Vec<String> = Vec::new();
                for w in wanted.iter().filter(|w| !ids.contains(w)) {
                    if !unknown.contains(w) {
                        unknown.push(w.clone());
                    }
                }
                if !unknown.is_empty() {
                    return Err(SelectError::UnknownIds { unknown });
                }
                Ok(items
                    .into_iter()
                    .zip(ids)
                    .filter(|(_, i)| wanted.contains(i))
                    .map(|(t, _)| t)
                    .collect())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("run{i}")).collect()
    }

    #[test]
    fn shards_partition_the_grid_in_order() {
        for len in [0, 1, 5, 8, 13] {
            for count in 1..=9 {
                let mut seen: Vec<String> = Vec::new();
                for index in 1..=count {
                    let s: Select = format!("{index}/{count}").parse().unwrap();
                    let part = s.pick(grid(len), |s| s.clone()).unwrap();
                    // in grid order, and sizes differ by at most one
                    let mut sorted = part.clone();
                    sorted.sort_by_key(|r| r[3..].parse::<usize>().unwrap());
                    assert_eq!(part, sorted);
                    assert!(part.len() == len / count || part.len() == len / count + 1);
                    seen.extend(part);
                }
                seen.sort_by_key(|r| r[3..].parse::<usize>().unwrap());
                assert_eq!(seen, grid(len), "{count} shards of {len} runs");
            }
        }
    }

    #[test]
    fn shard_membership_is_by_position() {
        let s: Select = "1/3".parse().unwrap();
        assert_eq!(
            s.pick(grid(7), |s| s.clone()).unwrap(),
            ["run0", "run3", "run6"]
        );
        let s: Select = "3/3".parse().unwrap();
        assert_eq!(s.pick(grid(7), |s| s.clone()).unwrap(), ["run2", "run5"]);
    }

    #[test]
    fn bad_shards_are_refused() {
        for bad in [
            "0/3", "4/3", "x/y", "1", "1/0", "0/0", "-1/3", "1/3/4", "", "/", "2/",
        ] {
            let e = bad.parse::<Select>().unwrap_err();
            assert_eq!(
                e,
                SelectError::BadShard {
                    given: bad.to_string()
                }
            );
            assert!(e.to_string().contains("1 <= I <= N"), "{e}");
        }
        assert_eq!(
            " 3 / 3".parse::<Select>().unwrap(),
            Select::Shard { index: 3, count: 3 }
        );
    }

    #[test]
    fn ids_pick_in_grid_order_and_unknown_ids_are_named() {
        let s = Select::Ids(vec!["run4".into(), "run1".into(), "run4".into()]);
        assert_eq!(s.pick(grid(6), |s| s.clone()).unwrap(), ["run1", "run4"]);
        let s = Select::Ids(vec![
            "run1".into(),
            "nope".into(),
            "gone".into(),
            "nope".into(),
        ]);
        let e = s.pick(grid(6), |s| s.clone()).unwrap_err();
        assert_eq!(
            e,
            SelectError::UnknownIds {
                unknown: vec!["nope".into(), "gone".into()]
            }
        );
        let msg = e.to_string();
        assert!(
            msg.contains("nope, gone") && msg.contains("--dry-run"),
            "{msg}"
        );
        assert!(msg.contains("gzbench runs"), "{msg}");
    }

    #[test]
    fn shards_of_a_real_grid_cover_its_run_ids_once() {
        use crate::spec::{DeviceKind, on_device, run_id};
        let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("experiments/shapes_baseline.yaml");
        let (_, runs) = crate::runner::plan(&file, crate::spec::Profile::Smoke).unwrap();
        let runs = on_device(runs, DeviceKind::Cpu);
        let all: Vec<String> = runs.iter().map(run_id).collect();
        assert!(all.len() >= 4);
        for count in [1, 2, 3, all.len(), all.len() + 2] {
            let mut seen = Vec::new();
            for index in 1..=count {
                let s = Select::Shard { index, count };
                seen.extend(s.pick(runs.clone(), run_id).unwrap().iter().map(run_id));
            }
            seen.sort();
            let mut want = all.clone();
            want.sort();
            assert_eq!(seen, want, "{count} shards");
        }
        let one = Select::Ids(vec![all[2].clone()])
            .pick(runs, run_id)
            .unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(run_id(&one[0]), all[2]);
    }

    #[test]
    fn all_keeps_everything() {
        assert_eq!(Select::All.pick(grid(4), |s| s.clone()).unwrap(), grid(4));
    }
}
