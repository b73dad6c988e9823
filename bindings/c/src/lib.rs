//! The extern "C" API of libcommit (written by the C-ABI work).
