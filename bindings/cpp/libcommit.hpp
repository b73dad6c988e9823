// libcommit.hpp - header-only C++17 RAII wrapper over the libcommit C API.
//
// No logic of its own: every member calls the C function of the same name
// and turns a failing lc_status into libcommit::Error (which carries the
// status and lc_last_error()'s message). Handles own their C object
// through std::unique_ptr with the matching free function, so they are
// move-only and release on scope exit:
//
//   libcommit::Database db = libcommit::Database::open("app.db");
//   db.commit({libcommit::put(1, "hello")});
//   {
//       libcommit::Transaction txn = db.begin();
//       txn.write(2, "world");
//       txn.commit();            // or leave the scope: the txn is aborted
//   }
//   std::optional<std::vector<uint8_t>> page = db.read(1);
//
// Thread safety is the C API's: a Database may be shared across threads
// (its methods are const-safe to call concurrently); a Transaction is used
// by one thread at a time. Link with -lcommit.
#ifndef LIBCOMMIT_HPP
#define LIBCOMMIT_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "libcommit.h"

namespace libcommit {

/// A failed call: the lc_status and the thread's lc_last_error() message.
class Error : public std::runtime_error {
public:
    Error(lc_status status, const std::string &message)
        : std::runtime_error(message), status_(status) {}

    /// The C status (never LC_OK).
    [[nodiscard]] lc_status status() const noexcept { return status_; }

private:
    lc_status status_;
};

namespace detail {

/// Throws Error for any status but LC_OK.
inline void check(lc_status status) {
    if (status != LC_OK) {
        const char *message = lc_last_error();
        throw Error(status, std::string(lc_status_str(status)) + ": " +
                                (message != nullptr ? message : ""));
    }
}

struct OptionsFree {
    void operator()(lc_options *opts) const noexcept { lc_options_free(opts); }
};
struct DbClose {
    void operator()(lc_db *db) const noexcept { (void)lc_close(db); }
};
struct TxnAbort {
    void operator()(lc_txn *txn) const noexcept { lc_txn_abort(txn); }
};

/// Reads through `read(buf, cap, &len)`: asks for the length, then reads,
/// again if the image grew in between. NOT_FOUND gives nullopt.
template <typename Read>
std::optional<std::vector<uint8_t>> read_page(Read read) {
    std::vector<uint8_t> buf;
    for (;;) {
        size_t len = 0;
        lc_status status = read(buf.empty() ? nullptr : buf.data(), buf.size(), &len);
        if (status == LC_NOT_FOUND) return std::nullopt;
        if (status == LC_BUFFER_TOO_SMALL) {
            buf.resize(len);
            continue;
        }
        check(status);
        buf.resize(len);
        return buf;
    }
}

/// Reads a NUL-terminated string through `read(buf, cap, &len)`: asks for
/// the size, then reads.
template <typename Read>
std::string read_text(Read read) {
    std::vector<char> buf;
    for (;;) {
        size_t len = 0;
        lc_status status = read(buf.empty() ? nullptr : reinterpret_cast<uint8_t *>(buf.data()),
                                buf.size(), &len);
        if (status == LC_BUFFER_TOO_SMALL) {
            buf.resize(len);
            continue;
        }
        check(status);
        return std::string(buf.data(), len);
    }
}

}  // namespace detail

/// One entry of the recovery report at open: lc_recovery_segment plus the
/// segment's path and the drop reason's text ("" when all frames were kept).
struct RecoverySegment {
    lc_segment_report report;
    std::string path;
    std::string detail;
};

/// The library version, "MAJOR.MINOR.PATCH".
inline std::string version() { return lc_version(); }

/// A batch entry that writes `data` (not copied until the commit call).
inline lc_page_write put(uint32_t pgno, const void *data, size_t len) {
    return lc_page_write{pgno, static_cast<const uint8_t *>(data), len};
}
inline lc_page_write put(uint32_t pgno, std::string_view data) {
    return put(pgno, data.data(), data.size());
}
inline lc_page_write put(uint32_t pgno, const std::vector<uint8_t> &data) {
    return put(pgno, data.data(), data.size());
}
/// A batch entry that deletes the page.
inline lc_page_write erase(uint32_t pgno) { return lc_page_write{pgno, nullptr, 0}; }

/// lc_options: settings for Database::open. Setters return *this.
class Options {
public:
    Options() {
        lc_options *raw = nullptr;
        detail::check(lc_options_new(&raw));
        ptr_.reset(raw);
    }
    Options &page_size(uint32_t bytes) { return set(lc_options_set_page_size(get(), bytes)); }
    Options &sync(lc_sync mode) { return set(lc_options_set_sync(get(), mode)); }
    Options &commit_mode(lc_commit_mode mode) { return set(lc_options_set_commit_mode(get(), mode)); }
    Options &isolation(lc_isolation level) { return set(lc_options_set_isolation(get(), level)); }
    Options &lanes(uint32_t n) { return set(lc_options_set_lanes(get(), n)); }
    Options &max_flush_delay_us(uint32_t us) { return set(lc_options_set_max_flush_delay_us(get(), us)); }
    Options &busy_timeout_ms(uint32_t ms) { return set(lc_options_set_busy_timeout_ms(get(), ms)); }
    Options &read_only(bool on) { return set(lc_options_set_read_only(get(), on)); }
    Options &segment_size_bytes(uint64_t bytes) { return set(lc_options_set_segment_size_bytes(get(), bytes)); }
    Options &checkpoint_threshold_bytes(uint64_t bytes) {
        return set(lc_options_set_checkpoint_threshold_bytes(get(), bytes));
    }

    [[nodiscard]] lc_options *get() const noexcept { return ptr_.get(); }

private:
    Options &set(lc_status status) {
        detail::check(status);
        return *this;
    }
    std::unique_ptr<lc_options, detail::OptionsFree> ptr_;
};

/// lc_txn: a snapshot plus a write set. Aborted on destruction unless
/// committed. Use from one thread at a time.
class Transaction {
public:
    explicit Transaction(lc_txn *raw) noexcept : ptr_(raw) {}

    /// The commit_seq this transaction reads at.
    [[nodiscard]] uint64_t snapshot() const {
        uint64_t seq = 0;
        detail::check(lc_txn_snapshot(ptr_.get(), &seq));
        return seq;
    }
    /// The page as this transaction sees it; nullopt if not found.
    [[nodiscard]] std::optional<std::vector<uint8_t>> read(uint32_t pgno) {
        return detail::read_page([&](uint8_t *buf, size_t cap, size_t *len) {
            return lc_txn_read(ptr_.get(), pgno, buf, cap, len);
        });
    }
    void write(uint32_t pgno, const void *data, size_t len) {
        detail::check(lc_txn_write(ptr_.get(), pgno, static_cast<const uint8_t *>(data), len));
    }
    void write(uint32_t pgno, std::string_view data) { write(pgno, data.data(), data.size()); }
    void write(uint32_t pgno, const std::vector<uint8_t> &data) { write(pgno, data.data(), data.size()); }
    void erase(uint32_t pgno) { detail::check(lc_txn_delete(ptr_.get(), pgno)); }
    /// lc_txn_set_sync: this commit's durability mode.
    void set_sync(lc_sync mode) { detail::check(lc_txn_set_sync(ptr_.get(), mode)); }

    /// Commits; the transaction is finished afterwards, also when this
    /// throws (e.g. Error with LC_CONFLICT). Returns the commit_seq.
    uint64_t commit() {
        uint64_t seq = 0;
        detail::check(lc_txn_commit(ptr_.release(), &seq));
        return seq;
    }
    /// Discards the transaction (the destructor does the same).
    void abort() noexcept { ptr_.reset(); }

    [[nodiscard]] lc_txn *get() const noexcept { return ptr_.get(); }

private:
    std::unique_ptr<lc_txn, detail::TxnAbort> ptr_;
};

/// lc_db: an open database, shareable across threads. Closed on destruction
/// (errors then ignored); call close() to see them.
class Database {
public:
    /// lc_open with the given options (nullptr = defaults).
    [[nodiscard]] static Database open(const std::string &path, const Options *options = nullptr) {
        lc_db *raw = nullptr;
        detail::check(lc_open(path.c_str(), options != nullptr ? options->get() : nullptr, &raw));
        return Database(raw);
    }
    [[nodiscard]] static Database open(const std::string &path, const Options &options) {
        return open(path, &options);
    }

    [[nodiscard]] Transaction begin() {
        lc_txn *raw = nullptr;
        detail::check(lc_begin(ptr_.get(), &raw));
        return Transaction(raw);
    }
    /// lc_commit_batch; returns the commit_seq.
    uint64_t commit(const std::vector<lc_page_write> &writes) {
        uint64_t seq = 0;
        detail::check(lc_commit_batch(ptr_.get(), writes.data(), writes.size(), &seq));
        return seq;
    }
    /// lc_commit_batch_sync: the batch with its own durability mode; returns
    /// the commit_seq (a ticket for wait_durable when not LC_SYNC_FULL).
    uint64_t commit(const std::vector<lc_page_write> &writes, lc_sync mode) {
        uint64_t seq = 0;
        detail::check(lc_commit_batch_sync(ptr_.get(), writes.data(), writes.size(), mode, &seq));
        return seq;
    }
    /// lc_durable_seq: every commit <= this is durable.
    [[nodiscard]] uint64_t durable_seq() const {
        uint64_t seq = 0;
        detail::check(lc_durable_seq(ptr_.get(), &seq));
        return seq;
    }
    /// lc_wait_durable: true once commit `seq` is durable, false on timeout.
    [[nodiscard]] bool wait_durable(uint64_t seq, uint32_t timeout_ms) {
        bool durable = false;
        detail::check(lc_wait_durable(ptr_.get(), seq, timeout_ms, &durable));
        return durable;
    }
    /// lc_metrics_get with this header's sizeof(lc_metrics).
    [[nodiscard]] lc_metrics metrics() const {
        lc_metrics metrics{};
        metrics.size = sizeof metrics;
        detail::check(lc_metrics_get(ptr_.get(), &metrics));
        return metrics;
    }
    /// The per-segment recovery report of the open, in log order.
    [[nodiscard]] std::vector<RecoverySegment> recovery_segments() const {
        size_t count = 0;
        detail::check(lc_recovery_segment_count(ptr_.get(), &count));
        std::vector<RecoverySegment> segments(count);
        for (size_t i = 0; i < count; i++) {
            detail::check(lc_recovery_segment(ptr_.get(), i, &segments[i].report));
            segments[i].path = detail::read_text([&](uint8_t *buf, size_t cap, size_t *len) {
                return lc_recovery_segment_path(ptr_.get(), i, buf, cap, len);
            });
            segments[i].detail = detail::read_text([&](uint8_t *buf, size_t cap, size_t *len) {
                return lc_recovery_segment_detail(ptr_.get(), i, buf, cap, len);
            });
        }
        return segments;
    }
    /// The latest committed image; nullopt if not found.
    [[nodiscard]] std::optional<std::vector<uint8_t>> read(uint32_t pgno) const {
        return detail::read_page([&](uint8_t *buf, size_t cap, size_t *len) {
            return lc_read(ptr_.get(), pgno, buf, cap, len);
        });
    }
    lc_checkpoint_report checkpoint() {
        lc_checkpoint_report report{};
        detail::check(lc_checkpoint(ptr_.get(), &report));
        return report;
    }
    [[nodiscard]] lc_recovery_report last_recovery() const {
        lc_recovery_report report{};
        detail::check(lc_last_recovery(ptr_.get(), &report));
        return report;
    }
    [[nodiscard]] lc_stats stats() const {
        lc_stats stats{};
        detail::check(lc_stats_get(ptr_.get(), &stats));
        return stats;
    }
    [[nodiscard]] uint32_t page_size() const {
        uint32_t bytes = 0;
        detail::check(lc_page_size(ptr_.get(), &bytes));
        return bytes;
    }
    /// lc_close; the handle is empty afterwards, also when this throws.
    void close() { detail::check(lc_close(ptr_.release())); }

    [[nodiscard]] lc_db *get() const noexcept { return ptr_.get(); }

private:
    explicit Database(lc_db *raw) noexcept : ptr_(raw) {}
    std::unique_ptr<lc_db, detail::DbClose> ptr_;
};

/// lc_recover: offline recovery of a closed database.
inline lc_recovery_report recover(const std::string &path, uint32_t flags = 0) {
    lc_recovery_report report{};
    detail::check(lc_recover(path.c_str(), flags, &report));
    return report;
}

}  // namespace libcommit

#endif  // LIBCOMMIT_HPP
