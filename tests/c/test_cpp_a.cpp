// test_cpp_a.cpp - the C++ wrapper: RAII, exceptions carrying lc_status,
// options, transactions, batches, reports. Built with test_cpp_b.cpp.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <unistd.h>

#include "libcommit.hpp"

uint64_t fill_pages(libcommit::Database &db, uint32_t n);
std::string wrapper_version();

static int passed = 0, failed = 0, failures_in_test = 0;

#define CHECK(cond)                                                          \
    do {                                                                     \
        if (!(cond)) {                                                       \
            failures_in_test++;                                              \
            std::fprintf(stderr, "  FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                    \
    } while (0)

// Checks that `expr` throws libcommit::Error with status `want`.
#define CHECK_THROWS(expr, want)                                             \
    do {                                                                     \
        lc_status got_ = LC_OK;                                              \
        try {                                                                \
            (void)(expr);                                                    \
        } catch (const libcommit::Error &e_) {                               \
            got_ = e_.status();                                              \
            CHECK(std::strlen(e_.what()) > 0);                               \
        }                                                                    \
        if (got_ != (want)) {                                                \
            failures_in_test++;                                              \
            std::fprintf(stderr, "  FAIL %s:%d: %s gave %s, want %s\n", __FILE__, __LINE__, \
                         #expr, lc_status_str(got_), #want);                 \
        }                                                                    \
    } while (0)

static void run(const char *name, void (*fn)()) {
    failures_in_test = 0;
    try {
        fn();
    } catch (const std::exception &e) {
        failures_in_test++;
        std::fprintf(stderr, "  FAIL %s: unexpected exception: %s\n", name, e.what());
    }
    if (failures_in_test == 0) {
        passed++;
        std::printf("ok - %s\n", name);
    } else {
        failed++;
        std::printf("FAILED - %s\n", name);
    }
}

static std::string dir;

static std::string path(const char *name) { return dir + "/" + name; }

static std::string as_string(const std::optional<std::vector<uint8_t>> &page) {
    return page ? std::string(page->begin(), page->end()) : std::string("<none>");
}

static void test_version() {
    CHECK(wrapper_version() == libcommit::version());
    CHECK(libcommit::version() == std::to_string(LC_VERSION_MAJOR) + "." +
                                      std::to_string(LC_VERSION_MINOR) + "." +
                                      std::to_string(LC_VERSION_PATCH));
}

static void test_batch_and_read() {
    libcommit::Options opts;
    opts.sync(LC_SYNC_OFF).page_size(4096);
    libcommit::Database db = libcommit::Database::open(path("batch.db"), opts);
    CHECK(db.page_size() == 4096);
    uint64_t seq = db.commit({libcommit::put(1, "hello"), libcommit::put(2, "world")});
    CHECK(seq == 1);
    CHECK(as_string(db.read(1)) == "hello");
    CHECK(db.commit({libcommit::erase(1)}) == 2);
    CHECK(!db.read(1).has_value());
    std::vector<uint8_t> full(4096, 0x42);
    db.commit({libcommit::put(3, full)});
    CHECK(db.read(3) == full);
    CHECK_THROWS(db.commit({libcommit::put(0, "zero")}), LC_INVALID_ARGUMENT);
    CHECK_THROWS(db.read(0), LC_INVALID_ARGUMENT);
    lc_stats st = db.stats();
    CHECK(st.commits == 3 && st.last_commit_seq == 3);
    db.close();
    CHECK(db.get() == nullptr);
}

static void test_transactions() {
    libcommit::Options opts;
    opts.sync(LC_SYNC_OFF);
    libcommit::Database db = libcommit::Database::open(path("txn.db"), &opts);
    CHECK(fill_pages(db, 5) == 1);
    {
        libcommit::Transaction txn = db.begin();
        CHECK(txn.snapshot() == 1);
        txn.write(9, "uncommitted");
        CHECK(as_string(txn.read(9)) == "uncommitted");
        // Leaves scope: aborted by the destructor.
    }
    CHECK(!db.read(9).has_value());

    libcommit::Transaction a = db.begin();
    libcommit::Transaction b = db.begin();
    a.write(1, "a");
    b.write(1, "b");
    b.erase(2);
    CHECK(a.commit() == 2);
    CHECK_THROWS(b.commit(), LC_CONFLICT);
    CHECK(b.get() == nullptr);  // consumed even on failure
    CHECK_THROWS(b.commit(), LC_INVALID_ARGUMENT);
    CHECK(as_string(db.read(1)) == "a");
    CHECK(as_string(db.read(2)) == "page 2");

    libcommit::Transaction c = db.begin();
    c.abort();
    CHECK(c.get() == nullptr);
    CHECK(db.stats().conflicts == 1);
}

static void test_txn_outlives_db() {
    libcommit::Transaction txn(nullptr);
    {
        libcommit::Options opts;
        opts.sync(LC_SYNC_OFF);
        libcommit::Database db = libcommit::Database::open(path("outlive.db"), opts);
        db.commit({libcommit::put(1, "x")});
        txn = db.begin();
    }  // db closed here
    CHECK_THROWS(txn.read(1), LC_CLOSED);
    CHECK_THROWS(txn.write(1, "y"), LC_CLOSED);
    CHECK_THROWS(txn.commit(), LC_CLOSED);
}

static void test_errors_and_recover() {
    CHECK_THROWS(libcommit::Database::open(path("missing/dir/x.db")), LC_IO);
    libcommit::Options opts;
    CHECK_THROWS(opts.page_size(1000), LC_INVALID_ARGUMENT);
    CHECK_THROWS(opts.sync(static_cast<lc_sync>(9)), LC_INVALID_ARGUMENT);
    opts.sync(LC_SYNC_OFF);
    {
        libcommit::Database db = libcommit::Database::open(path("rec.db"), opts);
        db.commit({libcommit::put(1, "kept")});
        lc_checkpoint_report r = db.checkpoint();
        CHECK(r.checkpoint_seq == 1);
    }
    lc_recovery_report r = libcommit::recover(path("rec.db"), LC_RECOVER_DELETE_AFTER);
    CHECK(r.partial_segments == 0);
    CHECK_THROWS(libcommit::recover(path("rec.db"), 8), LC_INVALID_ARGUMENT);
    libcommit::Database db = libcommit::Database::open(path("rec.db"), opts);
    CHECK(as_string(db.read(1)) == "kept");
    CHECK(db.last_recovery().partial_segments == 0);
    libcommit::Error e(LC_BUSY, "x");
    CHECK(e.status() == LC_BUSY);
}

static void test_tickets_metrics_segments() {
    libcommit::Database db = libcommit::Database::open(path("tickets.db"));
    uint64_t seq = db.commit({libcommit::put(1, "ticket")}, LC_SYNC_NORMAL);
    CHECK(seq == 1);
    CHECK(db.wait_durable(seq, 30000));
    CHECK(db.durable_seq() >= seq);
    CHECK_THROWS(db.wait_durable(seq + 10, 0), LC_INVALID_ARGUMENT);
    CHECK_THROWS(db.commit({libcommit::put(2, "x")}, static_cast<lc_sync>(7)), LC_INVALID_ARGUMENT);
    libcommit::Transaction txn = db.begin();
    txn.write(2, "strict");
    txn.set_sync(LC_SYNC_FULL);
    CHECK_THROWS(txn.set_sync(static_cast<lc_sync>(3)), LC_INVALID_ARGUMENT);
    uint64_t seq2 = txn.commit();
    CHECK(db.durable_seq() >= seq2);
    lc_metrics m = db.metrics();
    CHECK(m.size == sizeof m);
    uint64_t commits = 0;
    for (uint64_t n : m.commit_latency_us.buckets) commits += n;
    CHECK(commits == 2);
    CHECK(m.has_oldest_reader == 0);
    db.close();
    libcommit::Database again = libcommit::Database::open(path("tickets.db"));
    for (const libcommit::RecoverySegment &s : again.recovery_segments()) {
        CHECK(s.path.rfind(path("tickets.db-wal-seg-"), 0) == 0);
        CHECK((s.report.reason == LC_DROP_NONE) == s.detail.empty());
    }
    CHECK(as_string(again.read(2)) == "strict");
}

static void remove_dir() {
    std::string cmd = "rm -rf '" + dir + "'";
    if (std::system(cmd.c_str()) != 0) std::fprintf(stderr, "could not remove %s\n", dir.c_str());
}

int main() {
    const char *base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base ? base : "/tmp") + "/lc-cpptest-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (mkdtemp(buf.data()) == nullptr) return 2;
    dir = buf.data();

    run("version", test_version);
    run("batch_and_read", test_batch_and_read);
    run("transactions", test_transactions);
    run("txn_outlives_db", test_txn_outlives_db);
    run("errors_and_recover", test_errors_and_recover);
    run("tickets_metrics_segments", test_tickets_metrics_segments);
    remove_dir();
    std::printf("# test_cpp: %d tests passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
