// Error and Result<T>: expected failures (bad file, bad request, full cache) travel as values.
// Nothing below cli/ exits or prints; it returns an Error that names where and what.
#pragma once

#include <fmt/format.h>

#include <cassert>
#include <string>
#include <utility>
#include <variant>

namespace retort {

enum class ErrorKind {
    kBadFile,      // a file is malformed, truncated or unsupported
    kIo,           // open/read/mmap failed
    kBadArgument,  // a caller passed a value out of range
    kUnsupported,  // well-formed but not something we run (unknown arch, IQ quant type)
    kOutOfMemory,  // a pool or cache has no room
    kContextFull,  // prompt + generation does not fit the KV cache
};

struct Error {
    ErrorKind kind = ErrorKind::kBadArgument;
    std::string message;

    template <typename... Args>
    static Error make(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
        return Error{kind, fmt::format(f, std::forward<Args>(args)...)};
    }
    // "FILE: problem" — every file error names the file first.
    template <typename... Args>
    static Error bad_file(const std::string& path, fmt::format_string<Args...> f, Args&&... args) {
        return Error{ErrorKind::kBadFile, path + ": " + fmt::format(f, std::forward<Args>(args)...)};
    }
    template <typename... Args>
    static Error bad_argument(fmt::format_string<Args...> f, Args&&... args) {
        return Error{ErrorKind::kBadArgument, fmt::format(f, std::forward<Args>(args)...)};
    }
};

// A value or an Error. Check ok() before value(); value() on an error is a programming bug.
template <typename T>
class [[nodiscard]] Result {
public:
    Result(T value) : v_(std::move(value)) {}  // NOLINT: implicit by design
    Result(Error error) : v_(std::move(error)) {}  // NOLINT

    bool ok() const { return std::holds_alternative<T>(v_); }
    explicit operator bool() const { return ok(); }
    T& value() & { assert(ok()); return std::get<T>(v_); }
    const T& value() const& { assert(ok()); return std::get<T>(v_); }
    T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const Error& error() const { assert(!ok()); return std::get<Error>(v_); }

private:
    std::variant<T, Error> v_;
};

// Result<void>: success or an Error.
struct Ok {};
using Status = Result<Ok>;
inline Status ok_status() { return Ok{}; }

}  // namespace retort

// Propagate an error from an expression returning Result/Status.
#define RETORT_TRY(expr)                               \
    do {                                               \
        auto retort_try_r_ = (expr);                   \
        if (!retort_try_r_.ok()) return retort_try_r_.error(); \
    } while (0)
