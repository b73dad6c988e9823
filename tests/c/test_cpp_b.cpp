// test_cpp_b.cpp - the second translation unit including libcommit.hpp:
// linking it with test_cpp_a.cpp proves every definition in the header is
// inline (no duplicate symbols).
#include "libcommit.hpp"

// Fills pages 1..n through a transaction; returns the commit_seq.
uint64_t fill_pages(libcommit::Database &db, uint32_t n) {
    libcommit::Transaction txn = db.begin();
    for (uint32_t i = 1; i <= n; i++) txn.write(i, "page " + std::to_string(i));
    return txn.commit();
}

std::string wrapper_version() { return libcommit::version(); }
