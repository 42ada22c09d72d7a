//! A process-wide memo of generated test sets: every arm of one seed tests on the same synthetic
//! galaxies, so a sweep renders each seed's test set once instead of once per run.
//!
//! Keyed by everything the draw depends on (a string the caller builds from the data spec);
//! holds at most [`MAX_BYTES`] of images, dropping the oldest entries first. A memo hit returns a
//! copy of exactly what the generator returned, so results do not depend on the memo.

use super::Dataset;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

/// Images kept (about four 5,000-galaxy test sets at 64 px).
const MAX_BYTES: usize = 1 << 30;

type Entry = (String, Arc<Dataset>);
static MEMO: Mutex<VecDeque<Entry>> = Mutex::new(VecDeque::new());

/// The dataset under `key`, generating (and remembering) it on a miss.
pub fn get<E>(key: String, make: impl FnOnce() -> Result<Dataset, E>) -> Result<Dataset, E> {
    if let Some(d) = lookup(&key) {
        return Ok((*d).clone());
    }
    let d = make()?;
    let bytes = |d: &Dataset| (d.images.len() + d.targets.len()) * 4;
    if bytes(&d) <= MAX_BYTES {
        let mut memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
        memo.push_back((key, Arc::new(d.clone())));
        while memo.iter().map(|(_, d)| bytes(d)).sum::<usize>() > MAX_BYTES {
            memo.pop_front();
        }
    }
    Ok(d)
}

fn lookup(key: &str) -> Option<Arc<Dataset>> {
    let memo = MEMO.lock().unwrap_or_else(|e| e.into_inner());
    memo.iter().find(|(k, _)| k == key).map(|(_, d)| d.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_returns_what_the_generator_made_without_calling_it() {
        let make = |v: f32| Dataset {
            channels: 1,
            size: 1,
            images: vec![v],
            targets: vec![1.0],
            target_len: 1,
        };
        let key = "memo-test a".to_string();
        let first = get::<()>(key.clone(), || Ok(make(3.0))).unwrap();
        let again = get::<()>(key, || panic!("generated twice")).unwrap();
        assert_eq!(first, again);
        let other = get::<()>("memo-test b".into(), || Ok(make(4.0))).unwrap();
        assert_eq!(other.images, vec![4.0]);
        assert!(get::<&str>("memo-test c".into(), || Err("bad")).is_err());
    }
}
