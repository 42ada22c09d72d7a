//! Galaxy Zoo Express (Beck et al. 2018; Dickinson et al. 2019): humans and machine together in a
//! simulated classification stream. Volunteers answer one binary question in time order at a
//! fixed click rate per simulated day; SWAP retires galaxies; at a set cadence a machine
//! classifier is trained on the galaxies retired so far (with their SWAP labels) and retires the
//! queued galaxies it is confident about.
