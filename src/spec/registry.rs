//! The registries of names: every enum of `spec` that selects an implementation by name
//! (strategy, backbone, profile, survey, target kind) derives `clap::ValueEnum`, and [`all`]
//! lists its variants from that derive. There is no hand-written list of any of them: a new
//! variant is in [`all`] (the CLI's values, the tests that walk every name) the moment it
//! exists, and the implementing module matches on it exhaustively, so the compiler asks for its
//! implementation. A variant's name is its serde (YAML) name; the CLI uses the same (checked
//! below).
//!
//! ```
//! use gzbench::spec::{Backbone, all};
//! assert!(all::<Backbone>().contains(&Backbone::Resnet));
//! ```

/// Every variant of a registry enum, in declaration order.
pub fn all<E: clap::ValueEnum + 'static>() -> &'static [E] {
    E::value_variants()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{Backbone, Profile, QualityPreset, Strategy, Survey, yaml_name};

    /// The command line spells each name as the YAML does.
    fn same_names<E: clap::ValueEnum + serde::Serialize + 'static>() -> usize {
        for v in all::<E>() {
            let clap = v.to_possible_value().expect("no hidden variant");
            assert_eq!(clap.get_name(), yaml_name(v));
        }
        all::<E>().len()
    }

    #[test]
    fn cli_names_are_the_yaml_names() {
        // at least the names of today (adding one needs no edit here)
        assert!(same_names::<Strategy>() >= 15);
        assert!(same_names::<Backbone>() >= 6);
        assert!(same_names::<Profile>() >= 3);
        assert!(same_names::<Survey>() >= 2);
        assert!(same_names::<QualityPreset>() >= 6);
    }
}
