//! (being written: see `repr`'s module doc)
