//! Representations, as Zoobot's users use them: a backbone's embeddings of a catalogue
//! ([`embed`]), similarity search over them ([`search`]: exact cosine and an approximate
//! nearest-neighbour index) and anomaly ranking ([`anomaly`]: k-NN distance, isolation forest,
//! Gaussian density; re-ranking personalised to one researcher's ratings).

pub mod anomaly;
pub mod embed;
pub mod pca;
pub mod run;
pub mod search;

pub use run::run;
