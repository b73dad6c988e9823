// quickstart.cpp - libcommit from C++ with the header-only RAII wrapper.
// The README's C++ examples are the [readme:...] regions of this file.
//
//   make install PREFIX=$HOME/.local
//   P=$HOME/.local
//   c++ -std=c++17 quickstart.cpp -I$P/include -L$P/lib -Wl,-rpath,$P/lib -lcommit -o quickstart
//   ./quickstart [path]
#include <cstdio>
#include <string>

#include "libcommit.hpp"

int main(int argc, char **argv) {
    const std::string path = argc > 1 ? argv[1] : "quickstart-cpp.db";
    try {
        std::printf("libcommit %s\n", libcommit::version().c_str());
        {
            // [readme:open]
            libcommit::Options opts;
            opts.sync(LC_SYNC_FULL).isolation(LC_ISOLATION_SNAPSHOT);
            libcommit::Database db = libcommit::Database::open(path, opts);  // closes when destroyed
            // [readme:end]

            // [readme:commit]
            uint64_t seq = db.commit({libcommit::put(1, "hello"), libcommit::put(2, "world")});
            libcommit::Transaction txn = db.begin();  // aborts when destroyed uncommitted
            auto page = txn.read(1);
            txn.write(3, std::string(page->begin(), page->end()) + ", again");
            seq = txn.commit();
            // [readme:end]
            std::printf("transaction committed as commit_seq %llu\n", static_cast<unsigned long long>(seq));

            // [readme:read]
            auto three = db.read(3);  // std::optional: empty when not found
            std::printf("page 3: %s\n", three ? std::string(three->begin(), three->end()).c_str() : "(none)");
            std::printf("page 4: %s\n", db.read(4) ? "found" : "not found");
            // [readme:end]

            // [readme:errors]
            libcommit::Transaction a = db.begin();
            libcommit::Transaction b = db.begin();
            a.write(5, "a");
            b.write(5, "b");
            a.commit();
            try {
                b.commit();  // first committer wins: b writes nothing
            } catch (const libcommit::Error &e) {  // every failing call throws one
                std::printf("second writer: %s (status %d)\n", e.what(), static_cast<int>(e.status()));
            }
            // [readme:end]
            db.close();
        }

        // [readme:recover]
        {
            libcommit::Database db = libcommit::Database::open(path);  // replays the log
            lc_recovery_report replayed = db.last_recovery();
            std::printf("reopened at commit %llu\n", static_cast<unsigned long long>(replayed.last_commit_seq));
        }
        lc_recovery_report report = libcommit::recover(path, LC_RECOVER_SKIP_CORRUPT);  // offline
        std::printf("recover: %llu segments not replayed\n", static_cast<unsigned long long>(report.partial_segments));
        // [readme:end]
    } catch (const libcommit::Error &e) {
        std::fprintf(stderr, "error: %s\n", e.what());
        return 1;
    }
    return 0;
}
