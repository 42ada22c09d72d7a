//! True Galaxy Zoo style answers derived from a galaxy's truth, and vote probabilities.
//!
//! The questions follow the Galaxy Zoo DECaLS tree (plus the GZ2 "anything odd?" branch); a
//! question is `None` exactly when it is not reached on the galaxy's path:
//! * `smooth_or_featured` always; `artifact` ends the path.
//! * `how_rounded` iff smooth; `disk_edge_on` iff featured.
//! * `edge_on_bulge` iff edge-on; `has_spiral_arms`, `bar`, `bulge_size` iff featured and not
//!   edge-on; `spiral_winding`, `spiral_arm_count` iff spiral arms.
//! * `merging`, `anything_odd` iff not artifact; `odd_feature` iff anything odd.
//!
//! [`VoteProbabilities`] blurs the true answer by the galaxy's `difficulty`: the fraction of
//! votes that leave the true answer grows linearly with difficulty; ordinal questions leak to
//! neighbouring answers, faint featured galaxies leak towards "smooth" (the known GZ bias) and
//! arm counts leak towards "can't tell".

use serde::Serialize;

use super::population::{Galaxy, GalaxyType};

/// Every question, in a fixed order (the index into [`VoteProbabilities::probs`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum Question {
    SmoothOrFeatured,
    DiskEdgeOn,
    HasSpiralArms,
    Bar,
    BulgeSize,
    HowRounded,
    EdgeOnBulge,
    SpiralWinding,
    SpiralArmCount,
    Merging,
    AnythingOdd,
    OddFeature,
}

impl Question {
    pub const COUNT: usize = 12;
    pub const ALL: [Question; 12] = [
        Question::SmoothOrFeatured,
        Question::DiskEdgeOn,
        Question::HasSpiralArms,
        Question::Bar,
        Question::BulgeSize,
        Question::HowRounded,
        Question::EdgeOnBulge,
        Question::SpiralWinding,
        Question::SpiralArmCount,
        Question::Merging,
        Question::AnythingOdd,
        Question::OddFeature,
    ];

    /// Galaxy Zoo DECaLS style name.
    pub fn name(self) -> &'static str {
        match self {
            Question::SmoothOrFeatured => "smooth-or-featured",
            Question::DiskEdgeOn => "disk-edge-on",
            Question::HasSpiralArms => "has-spiral-arms",
            Question::Bar => "bar",
            Question::BulgeSize => "bulge-size",
            Question::HowRounded => "how-rounded",
            Question::EdgeOnBulge => "edge-on-bulge",
            Question::SpiralWinding => "spiral-winding",
            Question::SpiralArmCount => "spiral-arm-count",
            Question::Merging => "merging",
            Question::AnythingOdd => "anything-odd",
            Question::OddFeature => "odd-feature",
        }
    }

    /// Answer labels; a true answer is an index into this list.
    pub fn answers(self) -> &'static [&'static str] {
        match self {
            Question::SmoothOrFeatured => &["smooth", "featured-or-disk", "artifact"],
            Question::DiskEdgeOn | Question::HasSpiralArms | Question::AnythingOdd => {
                &["yes", "no"]
            }
            Question::Bar => &["strong", "weak", "no"],
            Question::BulgeSize => &["dominant", "large", "moderate", "small", "none"],
            Question::HowRounded => &["round", "in-between", "cigar-shaped"],
            Question::EdgeOnBulge => &["boxy", "none", "rounded"],
            Question::SpiralWinding => &["tight", "medium", "loose"],
            Question::SpiralArmCount => &["1", "2", "3", "4", "more-than-4", "cant-tell"],
            Question::Merging => &["merger", "major-disturbance", "minor-disturbance", "none"],
            Question::OddFeature => &["ring", "disturbed", "irregular", "dust-lane", "other"],
        }
    }

    /// Whether the answers are ordered (votes leak to neighbours rather than uniformly).
    pub(crate) fn ordinal(self) -> bool {
        matches!(
            self,
            Question::Bar
                | Question::BulgeSize
                | Question::HowRounded
                | Question::SpiralWinding
                | Question::SpiralArmCount
                | Question::Merging
        )
    }
}

macro_rules! answer_enum {
    ($(#[$m:meta])* $name:ident { $($v:ident),* $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        pub enum $name { $($v),* }
        impl $name {
            /// Index into the matching [`Question::answers`] list.
            pub fn index(self) -> usize { self as usize }
        }
    };
}

answer_enum!(SmoothOrFeatured {
    Smooth,
    Featured,
    Artifact
});
answer_enum!(BarStrength {
    Strong,
    Weak,
    NoBar
});
answer_enum!(BulgeSize {
    Dominant,
    Large,
    Moderate,
    Small,
    NoBulge
});
answer_enum!(Roundness {
    Round,
    InBetween,
    Cigar
});
answer_enum!(EdgeOnBulge {
    Boxy,
    NoBulge,
    Rounded
});
answer_enum!(WindingClass {
    Tight,
    Medium,
    Loose
});
answer_enum!(ArmCount {
    One,
    Two,
    Three,
    Four,
    MoreThanFour,
    CantTell
});
answer_enum!(Merging {
    Merger,
    MajorDisturbance,
    MinorDisturbance,
    NoMerger
});
answer_enum!(OddFeature {
    Ring,
    Disturbed,
    Irregular,
    DustLane,
    Other
});

/// The true answer to every question, `None` where the question is not reached.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrueAnswers {
    pub smooth_or_featured: SmoothOrFeatured,
    pub disk_edge_on: Option<bool>,
    pub has_spiral_arms: Option<bool>,
    pub bar: Option<BarStrength>,
    pub bulge_size: Option<BulgeSize>,
    pub how_rounded: Option<Roundness>,
    pub edge_on_bulge: Option<EdgeOnBulge>,
    pub spiral_winding: Option<WindingClass>,
    pub spiral_arm_count: Option<ArmCount>,
    pub merging: Option<Merging>,
    pub anything_odd: Option<bool>,
    pub odd_feature: Option<OddFeature>,
}

fn yes_no(b: bool) -> usize {
    if b { 0 } else { 1 }
}

impl TrueAnswers {
    /// Derive the answers from the truth.
    pub fn from_galaxy(g: &Galaxy) -> TrueAnswers {
        let mut a = TrueAnswers {
            smooth_or_featured: SmoothOrFeatured::Artifact,
            disk_edge_on: None,
            has_spiral_arms: None,
            bar: None,
            bulge_size: None,
            how_rounded: None,
            edge_on_bulge: None,
            spiral_winding: None,
            spiral_arm_count: None,
            merging: None,
            anything_odd: None,
            odd_feature: None,
        };
        if g.artifact.is_some() {
            return a;
        }
        let featured = match g.kind {
            GalaxyType::Elliptical => false,
            GalaxyType::Merger => g.bulge_fraction < 0.6,
            _ => true,
        };
        if featured {
            a.smooth_or_featured = SmoothOrFeatured::Featured;
            let edge_on = g.kind == GalaxyType::EdgeOnDisk || g.inclination_deg > 80.0;
            a.disk_edge_on = Some(edge_on);
            if edge_on {
                a.edge_on_bulge = Some(if g.bulge_fraction < 0.05 {
                    EdgeOnBulge::NoBulge
                } else if g.bulge.boxiness > 0.0 {
                    EdgeOnBulge::Boxy
                } else {
                    EdgeOnBulge::Rounded
                });
            } else {
                let arms = g.spiral.count > 0;
                a.has_spiral_arms = Some(arms);
                a.bar = Some(match &g.bar {
                    None => BarStrength::NoBar,
                    Some(b) if b.strength < 0.5 => BarStrength::Weak,
                    Some(_) => BarStrength::Strong,
                });
                let bt = g.bulge_fraction;
                a.bulge_size = Some(match bt {
                    x if x >= 0.6 => BulgeSize::Dominant,
                    x if x >= 0.35 => BulgeSize::Large,
                    x if x >= 0.15 => BulgeSize::Moderate,
                    x if x >= 0.04 => BulgeSize::Small,
                    _ => BulgeSize::NoBulge,
                });
                if arms {
                    let p = g.spiral.pitch_deg;
                    a.spiral_winding = Some(if p < 15.0 {
                        WindingClass::Tight
                    } else if p < 25.0 {
                        WindingClass::Medium
                    } else {
                        WindingClass::Loose
                    });
                    a.spiral_arm_count = Some(match g.spiral.count {
                        _ if g.difficulty > 0.85 => ArmCount::CantTell,
                        1 => ArmCount::One,
                        2 => ArmCount::Two,
                        3 => ArmCount::Three,
                        4 => ArmCount::Four,
                        _ => ArmCount::MoreThanFour,
                    });
                }
            }
        } else {
            a.smooth_or_featured = SmoothOrFeatured::Smooth;
            let q = g.axis_ratio;
            a.how_rounded = Some(if q >= 0.7 {
                Roundness::Round
            } else if q >= 0.4 {
                Roundness::InBetween
            } else {
                Roundness::Cigar
            });
        }
        let companion = g.tidal.as_ref().is_some_and(|t| t.companion.is_some());
        a.merging = Some(match g.kind {
            GalaxyType::Merger if companion => Merging::Merger,
            GalaxyType::Merger => Merging::MajorDisturbance,
            _ if g.disturbance >= 0.3 => Merging::MinorDisturbance,
            _ => Merging::NoMerger,
        });
        let odd = if g.ring.is_some() {
            Some(OddFeature::Ring)
        } else if g.dust_lane.is_some() {
            Some(OddFeature::DustLane)
        } else if g.kind == GalaxyType::Merger
            || g.disturbance >= 0.3 && g.kind != GalaxyType::Irregular
        {
            Some(OddFeature::Disturbed)
        } else if g.kind == GalaxyType::Irregular {
            Some(OddFeature::Irregular)
        } else {
            None
        };
        a.anything_odd = Some(odd.is_some());
        a.odd_feature = odd;
        a
    }

    /// The true answer to `q` as an index into `q.answers()`, or `None` if not reached.
    pub fn get(&self, q: Question) -> Option<usize> {
        match q {
            Question::SmoothOrFeatured => Some(self.smooth_or_featured.index()),
            Question::DiskEdgeOn => self.disk_edge_on.map(yes_no),
            Question::HasSpiralArms => self.has_spiral_arms.map(yes_no),
            Question::Bar => self.bar.map(|x| x.index()),
            Question::BulgeSize => self.bulge_size.map(|x| x.index()),
            Question::HowRounded => self.how_rounded.map(|x| x.index()),
            Question::EdgeOnBulge => self.edge_on_bulge.map(|x| x.index()),
            Question::SpiralWinding => self.spiral_winding.map(|x| x.index()),
            Question::SpiralArmCount => self.spiral_arm_count.map(|x| x.index()),
            Question::Merging => self.merging.map(|x| x.index()),
            Question::AnythingOdd => self.anything_odd.map(yes_no),
            Question::OddFeature => self.odd_feature.map(|x| x.index()),
        }
    }

    /// `(question name, answer label)` for every question (answer `None` when not reached).
    pub fn named(&self) -> Vec<(&'static str, Option<&'static str>)> {
        Question::ALL
            .iter()
            .map(|&q| (q.name(), self.get(q).map(|i| q.answers()[i])))
            .collect()
    }
}

/// Per-question probability vectors over answers (`None` where not reached), the truth blurred
/// by difficulty. Each vector sums to 1 and has `q.answers().len()` entries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VoteProbabilities {
    pub probs: Vec<Option<Vec<f32>>>,
}

impl VoteProbabilities {
    pub fn from_galaxy(g: &Galaxy) -> VoteProbabilities {
        Self::from_answers(&TrueAnswers::from_galaxy(g), g.difficulty)
    }

    pub fn from_answers(a: &TrueAnswers, difficulty: f32) -> VoteProbabilities {
        let eps = (0.06 + 0.5 * difficulty.clamp(0.0, 1.0)).min(0.45);
        let probs = Question::ALL
            .iter()
            .map(|&q| a.get(q).map(|t| blur(q, t, eps)))
            .collect();
        VoteProbabilities { probs }
    }

    /// Probabilities for `q`, `None` if not reached.
    pub fn get(&self, q: Question) -> Option<&[f32]> {
        self.probs[q as usize].as_deref()
    }

    /// `(question name, [(answer label, probability)])` for the reached questions.
    pub fn named(&self) -> Vec<(&'static str, Vec<(&'static str, f32)>)> {
        Question::ALL
            .iter()
            .filter_map(|&q| {
                self.get(q).map(|p| {
                    (
                        q.name(),
                        q.answers().iter().copied().zip(p.iter().copied()).collect(),
                    )
                })
            })
            .collect()
    }
}

fn blur(q: Question, truth: usize, eps: f32) -> Vec<f32> {
    let k = q.answers().len();
    let mut leak = vec![0f32; k];
    match q {
        // Featured galaxies lose votes mostly to "smooth"; smooth ones to "featured".
        Question::SmoothOrFeatured => match truth {
            0 => leak[1] = 1.0,
            1 => {
                leak[0] = 0.9;
                leak[2] = 0.1;
            }
            _ => {
                leak[0] = 0.5;
                leak[1] = 0.5;
            }
        },
        Question::SpiralArmCount => {
            leak[5] = 0.5;
            for (j, l) in leak.iter_mut().enumerate().take(5) {
                if j != truth && j.abs_diff(truth) == 1 {
                    *l = 0.25;
                }
            }
        }
        _ if q.ordinal() => {
            for (j, l) in leak.iter_mut().enumerate() {
                if j != truth {
                    *l = 1.0 / (j.abs_diff(truth) as f32).powi(2);
                }
            }
        }
        _ => {
            for (j, l) in leak.iter_mut().enumerate() {
                if j != truth {
                    *l = 1.0;
                }
            }
        }
    }
    leak[truth] = 0.0;
    let s: f32 = leak.iter().sum();
    let mut p: Vec<f32> = leak
        .iter()
        .map(|l| if s > 0.0 { eps * l / s } else { 0.0 })
        .collect();
    p[truth] = if s > 0.0 { 1.0 - eps } else { 1.0 };
    p
}
