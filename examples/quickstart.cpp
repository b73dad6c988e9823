// quickstart.cpp - libcommit from C++ with the header-only RAII wrapper.
//
//   c++ -std=c++17 -Iinclude -Ibindings/cpp examples/quickstart.cpp -Lbuild/lib -lcommit
//   LD_LIBRARY_PATH=build/lib ./a.out [path]
#include <cstdio>
#include <string>

#include "libcommit.hpp"

int main(int argc, char **argv) {
    const std::string path = argc > 1 ? argv[1] : "quickstart-cpp.db";
    try {
        std::printf("libcommit %s\n", libcommit::version().c_str());
        libcommit::Options opts;
        opts.sync(LC_SYNC_FULL).isolation(LC_ISOLATION_SNAPSHOT);
        libcommit::Database db = libcommit::Database::open(path, opts);

        uint64_t seq = db.commit({libcommit::put(1, "hello"), libcommit::put(2, "world")});
        std::printf("batch committed as commit_seq %llu\n", static_cast<unsigned long long>(seq));

        libcommit::Transaction txn = db.begin();
        auto page = txn.read(1);
        std::string text = page ? std::string(page->begin(), page->end()) : "";
        txn.write(3, text + ", again");
        seq = txn.commit();
        std::printf("transaction committed as commit_seq %llu\n", static_cast<unsigned long long>(seq));

        auto three = db.read(3);
        std::printf("page 3: %s\n", three ? std::string(three->begin(), three->end()).c_str() : "(none)");
        std::printf("page 4: %s\n", db.read(4) ? "found" : "not found");

        // Two transactions writing the same page: the second one conflicts.
        libcommit::Transaction a = db.begin();
        libcommit::Transaction b = db.begin();
        a.write(5, "a");
        b.write(5, "b");
        a.commit();
        try {
            b.commit();
        } catch (const libcommit::Error &e) {
            std::printf("second writer: %s (status %d)\n", e.what(), static_cast<int>(e.status()));
        }
        db.close();
    } catch (const libcommit::Error &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
