//! PyO3 module libcommit._native (written by the Python work).
